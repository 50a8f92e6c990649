from celery import shared_task

from competition.entries import FILM_TASK, film_process, films_reannounce_waiting


@shared_task(name=FILM_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_film(submission_id: int, file_name: str) -> None:
    """Read an entry's film (its marks, its blind copy) after the upload request stored it."""
    film_process(submission_id=submission_id, file_name=file_name)


@shared_task(name="competition.films_reannounce", ignore_result=True)
def films_reannounce() -> None:
    """The sweeper (beat, every minute): films waiting to be read whose message was lost."""
    films_reannounce_waiting()

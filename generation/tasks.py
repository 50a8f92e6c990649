from celery import shared_task

from generation.services import job_render, jobs_requeue_stale


@shared_task(name="generation.render_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True, bind=True)
def render_job(self, job_id: str) -> None:
    job_render(job_id=job_id, worker=self.request.hostname or "worker", task_id=self.request.id or "")


@shared_task(name="generation.requeue_stale", ignore_result=True)
def requeue_stale() -> None:
    jobs_requeue_stale()

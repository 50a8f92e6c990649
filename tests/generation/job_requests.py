"""A small, valid job request, as the new-clip page posts it and as the API takes it; tests change a field or
two with ``{**PAGE_FORM, ...}``; and ``job_rendered``, a queued job rendered in process and its clip decoded back."""

PAGE_FORM = {
    "prompt": "a fox running through snow",
    "negative_prompt": "",
    "model_key": "ltx-video",
    "num_frames": "25",
    "width": "256",
    "height": "192",
    "num_steps": "4",
    "guidance_scale": "3",
    "seed": "",
}

# The render settings alone, as a preset or the API takes them (the prompt is not a setting).
SETTINGS = {
    "model_key": "ltx-video",
    "num_frames": 25,
    "width": 256,
    "height": 192,
    "num_steps": 4,
    "guidance_scale": 3.0,
}

API_BODY = {"prompt": "waves breaking on a dark beach", **SETTINGS}


def job_rendered(job_id):
    """Render job ``job_id`` in this process as a worker would; the succeeded job and its clip's frames."""
    from generation import render
    from generation.encoding import decode_mp4
    from generation.models import RenderJob

    render.job_render(job_id=job_id, worker="test-worker")
    job = RenderJob.objects.get(pk=job_id)
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    with job.output.open("rb") as handle:
        return job, decode_mp4(handle.read())

"""A small, valid job request, as the new-clip page posts it and as the API takes it; tests change a field or
two with ``{**PAGE_FORM, ...}``."""

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

"""Media is served only through signed links: no URL pattern maps a path to MEDIA_ROOT, and in production
settings (DEBUG off, WhiteNoise, collected static files) no /media/ address serves a stored clip."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
from django.core.management import call_command
from django.test import Client
call_command("collectstatic", "--noinput", verbosity=0)
client = Client(HTTP_HOST="backlot.example.org")
answers = {}
for path in json.loads(PATHS):
    response = client.get(path, secure=True)
    answers[path] = [response.status_code, response.get("Content-Type", "")]
print("ANSWERS" + json.dumps(answers))
"""


def _routes(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_no_url_pattern_serves_files_from_media_root():
    served_by_static_view = [route for route, view in _routes() if view.__module__ == "django.views.static"]
    assert served_by_static_view == []
    media_routes = [route for route, _ in _routes() if "media" in route]
    assert media_routes == ["clips/media/<str:token>/"], "the signed-link view is the only way to media"


def test_no_media_address_serves_a_stored_clip_in_production(tmp_path):
    media, static = tmp_path / "media", tmp_path / "static"
    (media / "renders" / "7").mkdir(parents=True)
    (media / "renders" / "7" / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(64))
    (media / "posters" / "7").mkdir(parents=True)
    (media / "posters" / "7" / "clip.jpg").write_bytes(b"\xff\xd8\xff" + bytes(64))
    paths = [
        "/media/renders/7/clip.mp4",
        "/media-not-public/renders/7/clip.mp4",
        "/renders/7/clip.mp4",
        "/static/../media/renders/7/clip.mp4",
        "/static/renders/7/clip.mp4",
        "/media-not-public/posters/7/clip.jpg",
        "/clips/media/renders%2F7%2Fclip.mp4/",
        "/clips/media/renders.7.clip.mp4/",
        "/static/backlot.css",
    ]
    env = {key: value for key, value in os.environ.items() if key not in {"DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env |= {
        "DEBUG": "0",
        "ALLOWED_HOSTS": "backlot.example.org",
        "MEDIA_ROOT": str(media),
        "STATIC_ROOT": str(static),
        "SECRET_KEY": "x7Qm2-Lp9Zr4tVb8NwK1yHc6Js3Df0Ga5Ue-Xo7Ri2Tk9Mn4Pq",
        "PATHS": json.dumps(paths),
    }
    code = "import os; PATHS = os.environ['PATHS']\n" + PROBE
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.split("ANSWERS", 1)[1])
    assert answers.pop("/static/backlot.css")[0] == 200, "static files are served (so the probe is real)"
    assert {path: status for path, (status, _) in answers.items()} == dict.fromkeys(answers, 404) | {
        "/clips/media/renders.7.clip.mp4/": 403,  # not a signed link
    }

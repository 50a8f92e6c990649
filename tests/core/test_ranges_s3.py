"""core.ranges under S3 storage: a ranged request reads only that range from the object (a GetObject with the
same Range), not the whole object; a request without a range still gets the whole file. The store is a small
S3-compatible HTTP server on the loopback (HEAD and GET with Range, path-style), reached through the real
django-storages S3Storage and boto3, which records what was asked of it and how many bytes it sent."""

import re
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import RequestFactory

from core.ranges import file_response

pytest.importorskip("storages.backends.s3")

pytestmark = pytest.mark.django_db

BUCKET, KEY = "backlot-media", "clips/long.mp4"
DATA = bytes(range(256)) * 4096  # 1 MiB, each position distinguishable from its neighbours


class _Store(BaseHTTPRequestHandler):
    objects: dict[str, bytes] = {}
    asked: list[tuple[str, str, str | None]] = []
    sent = 0

    def log_message(self, *args):  # quiet
        pass

    def _object(self):
        data = self.objects.get(self.path.split("?", 1)[0].lstrip("/"))
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        return data

    def _headers(self, length: int, status: int = 200):
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", "video/mp4")
        self.send_header("ETag", '"0123456789abcdef"')
        self.send_header("Last-Modified", formatdate(usegmt=True))
        self.send_header("Accept-Ranges", "bytes")

    def do_HEAD(self):
        type(self).asked.append(("HEAD", self.path, None))
        if (data := self._object()) is not None:
            self._headers(len(data))
            self.end_headers()

    def do_GET(self):
        wanted = self.headers.get("Range")
        type(self).asked.append(("GET", self.path, wanted))
        if (data := self._object()) is None:
            return
        body, status = data, 200
        if wanted and (match := re.fullmatch(r"bytes=(\d+)-(\d+)", wanted)):
            first, last = int(match[1]), min(int(match[2]), len(data) - 1)
            body, status = data[first : last + 1], 206
        self._headers(len(body), status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.end_headers()
        type(self).sent += len(body)  # before the write: the client may have read it all before this line runs
        self.wfile.write(body)


@pytest.fixture
def store():
    _Store.objects, _Store.asked, _Store.sent = {f"{BUCKET}/{KEY}": DATA}, [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Store, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _options(endpoint: str) -> dict:
    return {
        "bucket_name": BUCKET,
        "endpoint_url": endpoint,
        "access_key": "test-access-key",
        "secret_key": "test-secret-key",
        "region_name": "us-east-1",
        "addressing_style": "path",
        "querystring_auth": True,
    }


def _answer(fileobj, range_header=None):
    headers = {"HTTP_RANGE": range_header} if range_header else {}
    response = file_response(
        RequestFactory().get("/clip", **headers), fileobj, size=fileobj.size, content_type="video/mp4"
    )
    body = b"".join(response.streaming_content)
    response.close()
    return response, body


def test_a_ranged_request_reads_only_that_range_from_the_object(store):
    from storages.backends.s3 import S3Storage

    recorder, endpoint = store
    handle = S3Storage(**_options(endpoint)).open(KEY, "rb")

    response, body = _answer(handle, "bytes=500000-500099")

    assert response.status_code == 206 and response["Content-Range"] == f"bytes 500000-500099/{len(DATA)}"
    assert body == DATA[500000:500100]
    gets = [asked for asked in recorder.asked if asked[0] == "GET"]
    assert gets == [("GET", f"/{BUCKET}/{KEY}", "bytes=500000-500099")]
    assert recorder.sent == 100  # not the 1 MiB object


def test_a_suffix_range_and_a_whole_file_from_s3(store):
    from storages.backends.s3 import S3Storage

    recorder, endpoint = store
    storage = S3Storage(**_options(endpoint))

    response, body = _answer(storage.open(KEY, "rb"), "bytes=-10")
    assert (response.status_code, body) == (206, DATA[-10:]) and recorder.sent == 10

    response, body = _answer(storage.open(KEY, "rb"))
    assert (response.status_code, body) == (200, DATA)


def test_a_clip_s_media_link_seeks_in_s3_without_downloading_the_clip(store, settings, tester, tester_client):
    from generation.media import media_url
    from tests.factories import RenderJobFactory

    recorder, endpoint = store
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _options(endpoint)},
    }
    job = RenderJobFactory(owner=tester, state="succeeded")
    job.output.name = KEY
    job.save(update_fields=["output"])

    response = tester_client.get(media_url(job), HTTP_RANGE="bytes=1000-1999")

    assert response.status_code == 206
    assert b"".join(response.streaming_content) == DATA[1000:2000]
    assert [asked for asked in recorder.asked if asked[0] == "GET"] == [("GET", f"/{BUCKET}/{KEY}", "bytes=1000-1999")]
    assert recorder.sent == 1000

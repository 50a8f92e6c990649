"""core.ranges.file_response: one byte range answered with 206 and only those bytes, 416 past the end, the whole
file for anything it does not understand; Accept-Ranges always, and the file closed when the answer is done."""

import io

import pytest
from django.test import RequestFactory

from core.ranges import CHUNK, byte_range, file_response

# Closing a response sends request_finished, whose handler looks at the database connection.
pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 4  # 1024 bytes, each position distinguishable from its neighbours
factory = RequestFactory()


class Recording(io.BytesIO):
    """A real in-memory file that remembers every read, to show the helper reads in chunks and only the range."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size=-1):
        chunk = super().read(size)
        self.reads.append(len(chunk))
        return chunk


def answer(range_header=None, *, data=DATA, method="get", **kwargs):
    headers = {"HTTP_RANGE": range_header} if range_header is not None else {}
    request = getattr(factory, method)("/clip", **headers)
    handle = Recording(data)
    kwargs = {"content_type": "video/mp4"} | kwargs
    response = file_response(request, handle, size=len(data), **kwargs)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    response.close()
    return response, body, handle


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, 1023),
        ("bytes=0-", 0, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=-5000", 0, 1023),  # a suffix longer than the file is the whole file, as a range
        ("bytes=1000-99999", 1000, 1023),  # an end past the file is cut to the last byte
        ("bytes=1023-1023", 1023, 1023),
    ],
)
def test_one_range_is_answered_with_206_and_only_its_bytes(header, first, last):
    response, body, _ = answer(header)
    assert response.status_code == 206
    assert body == DATA[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/1024"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "video/mp4"
    assert response["Cache-Control"] == "private, no-store"


def test_without_a_range_the_whole_file_comes_with_accept_ranges():
    response, body, handle = answer()
    assert (response.status_code, body) == (200, DATA)
    assert response["Content-Length"] == "1024" and response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, no-store"
    assert "Content-Range" not in response
    assert handle.closed


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_outside_the_file_is_416_with_the_size(header):
    response, body, handle = answer(header)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"
    assert response["Accept-Ranges"] == "bytes"
    assert body == b"" and handle.reads == [], "not a byte is read"
    assert handle.closed


def test_an_empty_file_satisfies_no_range_but_is_whole_without_one():
    assert answer("bytes=0-", data=b"")[0].status_code == 416
    assert answer("bytes=-1", data=b"")[0].status_code == 416
    response, body, _ = answer(data=b"")
    assert (response.status_code, body, response["Content-Length"]) == (200, b"", "0")


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc-def",
        "bytes=5-2",  # end before start: invalid, so ignored
        "bytes=-",
        "bytes 0-99",
        "items=0-99",
        "bytes=0x10-20",
        "bytes=1-2-3",
        "",
    ],
)
def test_a_malformed_range_gets_the_whole_file(header):
    response, body, _ = answer(header)
    assert (response.status_code, body) == (200, DATA)
    assert response["Accept-Ranges"] == "bytes" and "Content-Range" not in response


def test_several_ranges_get_the_whole_file():
    response, body, _ = answer("bytes=0-9,20-29")
    assert (response.status_code, body) == (200, DATA)


def test_an_if_range_we_cannot_match_gets_the_whole_file():
    request = factory.get("/clip", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"some-etag"')
    response = file_response(request, io.BytesIO(DATA), size=len(DATA), content_type="video/mp4")
    assert response.status_code == 200 and b"".join(response.streaming_content) == DATA


def test_a_range_is_read_in_chunks_and_no_further_than_its_end():
    data = bytes(range(256)) * 4096  # 1 MiB
    first, last = 100_000, 100_000 + 3 * CHUNK + 17
    response, body, handle = answer(f"bytes={first}-{last}", data=data)
    assert body == data[first : last + 1]
    assert max(handle.reads) <= CHUNK, "streamed in chunks, never the whole file at once"
    assert sum(handle.reads) == last - first + 1, "nothing past the range is read"
    assert handle.closed, "closing the response closes the file"


def test_a_download_keeps_its_disposition_in_each_answer():
    for header in (None, "bytes=0-9", "bytes=9999-"):
        response, _, _ = answer(header, as_attachment=True, filename="backlot-abc.mp4")
        assert response["Content-Disposition"] == 'attachment; filename="backlot-abc.mp4"', header
    inline, _, _ = answer("bytes=0-9", filename="film.mp4")
    assert inline["Content-Disposition"] == 'inline; filename="film.mp4"'


def test_head_answers_the_headers_of_a_get_and_reads_nothing():
    whole, body, handle = answer(method="head")
    assert (whole.status_code, whole["Content-Length"], whole["Accept-Ranges"]) == (200, "1024", "bytes")
    assert body == b"" and handle.reads == [] and handle.closed
    part, body, handle = answer("bytes=10-19", method="head")
    assert (part.status_code, part["Content-Range"], part["Content-Length"]) == (206, "bytes 10-19/1024", "10")
    assert body == b"" and handle.reads == []


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 1, (0, 0)),
        ("bytes=0-", 0, False),
        ("bytes= 2 - 5", 10, (2, 5)),
        ("bytes=9-", 10, (9, 9)),
        ("bytes=10-", 10, False),
        ("bytes=0-1, 3-4", 10, None),
        ("bytes=\N{ARABIC-INDIC DIGIT FOUR}-", 10, None),  # digits are ASCII digits
    ],
)
def test_byte_range_reads_the_header(header, size, expected):
    assert byte_range(header, size) == expected

"""Files answered with byte ranges (RFC 9110 §14), so that a browser can seek in a clip it streams.

Django's FileResponse ignores the Range header; a <video> served that way cannot seek (Chromium jumps back to
the start). ``file_response`` answers one range (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) with 206 and only
those bytes, read in chunks; a range that starts past the end with 416; anything else it does not understand
(a malformed header, several ranges, an If-Range it cannot match) with the whole file, which the RFC allows.
Access checks belong to the caller and happen before this is called: it only decides which bytes to send.
"""

from __future__ import annotations

import re
from typing import Literal

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

CHUNK = 64 * 1024
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


def byte_range(header: str, size: int) -> tuple[int, int] | Literal[False] | None:
    """The ``(first, last)`` byte positions, inclusive, that a Range header asks for in a file of ``size`` bytes.

    None when the header is to be ignored (absent, malformed, several ranges): the whole file is sent.
    False when it is well formed but no byte of it lies in the file (416).
    """
    match = _RANGE.fullmatch(header.replace(" ", "").replace("\t", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # bytes=-n: the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid syntax: ignored, not refused
    if start >= size:
        return False
    return start, min(end, size - 1)


class _Slice:
    """``length`` bytes of an open file from ``start``, in chunks; closes the file when the response is done."""

    def __init__(self, fileobj, start: int, length: int):
        self.fileobj, self.start, self.length = fileobj, start, length

    def __iter__(self):
        self.fileobj.seek(self.start)
        left = self.length
        while left > 0:
            chunk = self.fileobj.read(min(CHUNK, left))
            if not chunk:
                break  # the file shrank under us: send what there is rather than hang the client
            left -= len(chunk)
            yield chunk

    def close(self):
        self.fileobj.close()


def file_response(
    request, fileobj, *, size: int, content_type: str, as_attachment: bool = False, filename: str | None = None
) -> HttpResponse:
    """An open binary file as the answer to ``request``: whole (200), one byte range (206) or none (416).

    ``size`` is the file's length as its storage reports it. The response owns ``fileobj`` and closes it.
    Adds ``Accept-Ranges: bytes`` and ``Cache-Control: private, no-store`` (media here is always personal).
    """
    wanted = None
    header = request.META.get("HTTP_RANGE", "")
    if header and "HTTP_IF_RANGE" not in request.META:  # we send no validators, so no If-Range can match
        wanted = byte_range(header, size)

    if wanted is False:
        fileobj.close()
        response = HttpResponse(status=416, content_type=content_type)
        response["Content-Range"] = f"bytes */{size}"
    elif request.method == "HEAD":
        fileobj.close()
        response = HttpResponse(status=200 if wanted is None else 206, content_type=content_type)
        first, last = wanted or (0, size - 1)
        if wanted is not None:
            response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    elif wanted is None:
        response = FileResponse(
            fileobj, content_type=content_type, as_attachment=as_attachment, filename=filename or ""
        )
        response["Content-Length"] = str(size)
    else:
        first, last = wanted
        response = StreamingHttpResponse(
            _Slice(fileobj, first, last - first + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    if disposition := content_disposition_header(as_attachment, filename or ""):
        response["Content-Disposition"] = disposition
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"
    return response

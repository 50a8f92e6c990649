"""Files answered with byte ranges (RFC 9110 §14), so that a browser can seek in a clip it streams.

Django's FileResponse ignores the Range header; a <video> served that way cannot seek (Chromium jumps back to
the start). ``file_response`` answers one range (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) with 206 and only
those bytes, read in chunks; a range that starts past the end with 416; anything else it does not understand
(a malformed header, several ranges, an If-Range it cannot match) with the whole file, which the RFC allows.
Access checks belong to the caller and happen before this is called: it only decides which bytes to send.

Under S3 storage (django-storages' S3File) a range is asked of the object store itself, a GetObject with the
same Range, so seeking in a long clip fetches only the bytes the player wants; S3File on its own downloads
the whole object on the first read.
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


def _s3_range(fileobj, start: int, length: int):
    """The body of a GetObject for ``length`` bytes from ``start`` when ``fileobj`` is (or a FieldFile holds)
    an S3 object opened for reading and not yet downloaded; None for any other file."""
    from django.db.models.fields.files import FieldFile

    try:
        from storages.backends.s3 import S3File, _filter_download_params
    except ImportError:  # the optional s3 extra is not installed: no file is an S3 one
        return None
    inner = fileobj.file if isinstance(fileobj, FieldFile) else fileobj
    if not isinstance(inner, S3File) or inner._file is not None or "r" not in inner._mode:
        return None
    if inner._storage.gzip and inner.obj.content_encoding == "gzip":
        return None  # stored compressed: a range of the stored bytes is not a range of the file
    params = _filter_download_params(inner._storage.get_object_parameters(inner.name))
    return inner.obj.get(Range=f"bytes={start}-{start + length - 1}", **params)["Body"]


class _Slice:
    """``length`` bytes of an open file from ``start``, in chunks; closes the file when the response is done.
    An S3 object is asked for those bytes alone (_s3_range); any other file is seeked and read."""

    def __init__(self, fileobj, start: int, length: int):
        self.fileobj, self.start, self.length = fileobj, start, length
        self.body = None

    def __iter__(self):
        self.body = _s3_range(self.fileobj, self.start, self.length)
        if self.body is not None:
            read = self.body.read
        else:
            self.fileobj.seek(self.start)
            read = self.fileobj.read
        left = self.length
        while left > 0:
            chunk = read(min(CHUNK, left))
            if not chunk:
                break  # the file shrank under us: send what there is rather than hang the client
            left -= len(chunk)
            yield chunk

    def close(self):
        if self.body is not None:
            self.body.close()
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

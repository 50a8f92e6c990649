"""What may be attached to a report: a few file types, recognised by their content, within a size limit."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

MAX_FILES = 5

# (label, content type, test on the file's first bytes)
KINDS = [
    ("PNG image", "image/png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ("JPEG image", "image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ("GIF image", "image/gif", lambda head: head[:6] in (b"GIF87a", b"GIF89a")),
    ("WebP image", "image/webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    ("MP4 video", "video/mp4", lambda head: head[4:8] == b"ftyp"),
    ("WebM video", "video/webm", lambda head: head.startswith(b"\x1a\x45\xdf\xa3")),
    ("PDF", "application/pdf", lambda head: head.startswith(b"%PDF-")),
]
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}
ALLOWED_TEXT = "PNG, JPEG, GIF or WebP images, MP4 or WebM videos, PDFs, or plain text (logs)"


def max_bytes() -> int:
    return getattr(settings, "FEEDBACK_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:  # a multi-byte character cut at the end of the sample is fine
        return error.start >= len(head) - 3
    return True


def attachment_kind(upload) -> str:
    """The content type of ``upload``, judged by its bytes (never by the name or what the browser said)."""
    upload.seek(0)
    head = upload.read(2048)
    upload.seek(0)
    for _, content_type, matches in KINDS:
        if matches(head):
            return content_type
    if head and _is_text(head):
        return "text/plain"
    return ""


def attachments_check(uploads) -> list[tuple[object, str]]:
    """Each upload with its content type, or a ValidationError naming every file that is refused and why."""
    errors = []
    if len(uploads) > MAX_FILES:
        errors.append(f"Attach at most {MAX_FILES} files.")
    checked = []
    for upload in uploads:
        if upload.size > max_bytes():
            errors.append(
                f"{upload.name} is {filesizeformat(upload.size)}; "
                f"attachments are at most {filesizeformat(max_bytes())}."
            )
            continue
        if upload.size == 0:
            errors.append(f"{upload.name} is empty.")
            continue
        kind = attachment_kind(upload)
        if not kind:
            errors.append(f"{upload.name} is not a file type that can be attached: use {ALLOWED_TEXT}.")
            continue
        checked.append((upload, kind))
    if errors:
        raise ValidationError({"attachments": errors})
    return checked


def stored_name(content_type: str) -> str:
    """A fresh random file name for an attachment: nothing of the uploader's file name reaches the storage
    path (the name is kept only as a label, and given back as the download's file name)."""
    return f"{uuid.uuid4().hex}{EXTENSIONS[content_type]}"

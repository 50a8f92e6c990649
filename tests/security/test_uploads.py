"""Uploads are judged by their bytes, never by their name or declared type, and no part of a storage path
comes from what a person typed or uploaded. The upload paths: report attachments (form and API), the leak
trace upload, the invitation CSV (tests/access/test_manage_pages.py); the files workers store."""

import re

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from rest_framework.test import APIClient

from feedback.models import Attachment, Report

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)
HTML = b"<html><script>alert(document.cookie)</script></html>"

# Every FileField, and how the name of each stored file is made. A new FileField fails the last test
# until it is listed here with a naming rule that takes nothing from the user.
STORED_FILES = {
    "generation.RenderJob.output": "renders/<owner id>/<job uuid>.mp4, by generation.render.job_succeed",
    "generation.RenderJob.poster": "posters/<owner id>/<job uuid>.jpg, by generation.render.job_succeed",
    "generation.InputImage.file": "inputs/<owner id>/<random token>.<extension of the sniffed type>, by image_store",
    "feedback.Attachment.file": "reports/<year>/<month>/<random uuid><extension of the sniffed type>",
    "competition.Submission.file": "competition/<call id>/<random uuid>.mp4, by competition.models.film_path",
    "competition.Submission.blind_file": "competition/<call id>/blind/<random uuid>.mp4, by blind_path",
}


def _bug(**extra):
    return {
        "title": "Flicker",
        "severity": "medium",
        "steps": "Render",
        "expected": "calm",
        "actual": "flicker",
    } | extra


def test_an_attachment_is_stored_under_a_random_name_whatever_it_was_called(tester_client):
    names = ["../../../etc/passwd.png", "shot<script>.png", "C:\\Windows\\evil.png", "   .png"]
    uploads = [SimpleUploadedFile(name, PNG, content_type="image/png") for name in names]
    response = tester_client.post("/feedback/bugs/new/", _bug(attachments=uploads))
    assert response.status_code == 302
    stored = list(Attachment.objects.order_by("pk"))
    assert len(stored) == 4
    for item in stored:
        assert re.fullmatch(r"reports/\d{4}/\d{2}/[0-9a-f]{32}\.png", item.file.name), item.file.name
        assert item.file.storage.exists(item.file.name)
    assert {item.name for item in stored} >= {"shot<script>.png"}, "the name is kept as a label only"


def test_html_named_as_an_image_is_kept_and_served_as_plain_text(tester_client):
    upload = SimpleUploadedFile("cute-cat.png", HTML, content_type="image/png")
    assert tester_client.post("/feedback/bugs/new/", _bug(attachments=[upload])).status_code == 302
    item = Attachment.objects.get()
    assert item.content_type == "text/plain" and item.file.name.endswith(".txt")
    response = tester_client.get(f"/feedback/reports/{item.report_id}/attachments/{item.pk}/")
    assert response["Content-Type"] == "text/plain"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")


def test_an_executable_renamed_as_a_pdf_is_refused_through_the_api(tester):
    api = APIClient()
    api.force_authenticate(tester)
    upload = SimpleUploadedFile("invoice.pdf", b"MZ\x90\x00" + bytes(range(256)), content_type="application/pdf")
    response = api.post("/api/v1/feedback/reports/", _bug(kind="bug", attachments=[upload]), format="multipart")
    assert response.status_code == 400 and "not a file type that can be attached" in response.json()["attachments"][0]
    assert not Report.objects.exists() and not Attachment.objects.exists()


def test_a_text_file_named_clip_mp4_is_refused_by_the_trace_upload(client, admin_user):
    client.force_login(admin_user)
    upload = SimpleUploadedFile("leak.mp4", b"just some text, not a video", content_type="video/mp4")
    response = client.post("/leak-alerts/trace/", {"clip": upload})
    assert response.status_code == 400 and "not an MP4" in response.content.decode()


def test_every_file_field_is_listed_with_a_naming_rule():
    fields = {
        f"{model._meta.app_label}.{model.__name__}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField)
    }
    assert fields == set(STORED_FILES)

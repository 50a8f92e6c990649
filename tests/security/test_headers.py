"""Every page carries the security headers: a strict Content-Security-Policy, frame denial, a referrer
policy, Cross-Origin-Opener-Policy, Permissions-Policy and (over HTTPS in production) HSTS. Real pages,
fetched through the whole middleware stack."""

import pytest
from django.urls import reverse

from generation.media import media_url
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db

STRICT_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def csp(response) -> dict[str, str]:
    directives = [part.strip() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {name: value for name, _, value in (d.partition(" ") for d in directives)}


def assert_security_headers(response, *, policy=STRICT_CSP):
    assert csp(response) == policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    permissions = dict(item.strip().split("=", 1) for item in response["Permissions-Policy"].split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert permissions[feature] == "()"


def test_the_sign_in_page_carries_every_header(client):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    assert_security_headers(response)


def test_an_error_page_carries_them_too(client, tester):
    client.force_login(tester)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert_security_headers(response)


@pytest.mark.parametrize(
    "name", ["generation:job_list", "generation:job_create", "feedback:my_reports", "account_pages:index"]
)
def test_the_tester_pages_carry_every_header(client, tester, name):
    client.force_login(tester)
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert_security_headers(response)


def test_the_clip_page_and_its_media_carry_every_header(client, tester, programme):
    job = finished_clip(tester, programme=programme)
    client.force_login(tester)
    page = client.get(job.get_absolute_url())
    assert page.status_code == 200
    assert_security_headers(page)
    video = client.get(media_url(job))
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert_security_headers(video)


def test_the_manage_pages_carry_every_header(client, admin_user, programme):
    client.force_login(admin_user)
    for url in [reverse("access:manage_index"), reverse("access_manage:programme", args=[programme.slug])]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response)


def test_the_api_carries_every_header(client, tester):
    client.force_login(tester)
    response = client.get("/api/v1/jobs/")
    assert response.status_code == 200
    assert_security_headers(response)


def test_the_api_docs_load_swagger_from_this_site_only(client, tester):
    # Swagger UI comes from drf-spectacular-sidecar's static files: no CDN, the strict policy unchanged.
    client.force_login(tester)
    page = client.get(reverse("api-docs"))
    assert page.status_code == 200
    assert csp(page) == STRICT_CSP
    html = page.content.decode()
    assert "<script>" not in html and "<style>" not in html, "no inline script or style"
    assert "cdn.jsdelivr.net" not in html and "swagger-ui-bundle.js" in html
    script = client.get(reverse("api-docs") + "?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_redoc_may_add_inline_styles_and_a_blob_worker_and_nothing_else(client, tester):
    # Redoc writes <style> elements and runs its search in a blob: worker; scripts stay this site's own.
    client.force_login(tester)
    page = client.get(reverse("api-redoc"))
    assert page.status_code == 200
    assert csp(page) == STRICT_CSP | {"style-src": "'self' 'unsafe-inline'", "worker-src": "'self' blob:"}
    assert "<script>" not in page.content.decode()


def test_a_report_attachment_keeps_its_own_stricter_policy(client, tester, programme):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from feedback.reports import report_file

    report = report_file(
        reporter=tester,
        kind="bug",
        title="Flicker",
        steps="Render",
        expected="calm",
        actual="flicker",
        attachments=[SimpleUploadedFile("log.txt", b"frame 3 flickers\n")],
    )
    client.force_login(tester)
    item = report.attachments.get()
    response = client.get(reverse("feedback:attachment", args=[report.pk, item.pk]))
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "default-src 'none'; media-src 'self'; img-src 'self'"


def test_hsts_is_sent_over_https_in_production(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    response = client.get(reverse("account_login"), secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert_security_headers(response)


def test_no_page_of_ours_makes_blob_media_so_the_policy_allows_none():
    # media-src is 'self' only: a player fed a blob: URL (URL.createObjectURL) would be refused.
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    ours = [*root.joinpath("templates").rglob("*.html"), *root.joinpath("static").rglob("*.js")]
    offenders = [
        str(path.relative_to(root))
        for path in ours
        if "vendor" not in path.parts and ("createObjectURL" in path.read_text() or "blob:" in path.read_text())
    ]
    assert ours and offenders == []

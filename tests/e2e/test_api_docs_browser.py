"""The API's documentation pages work on a box with no internet: Chromium, with every request that leaves
the test server aborted, renders Swagger UI's operations at /api/docs/ and Redoc's at /api/redoc/ from
Backlot's own static files, under the site's CSP, with no violation (Redoc's page alone also allows inline
styles and a blob: worker, which it makes at run time; scripts stay our own files on both)."""

from urllib.parse import urlsplit

import pytest

from tests.e2e.browser import RECORD_VIOLATIONS, session_cookie

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offline_page(browser, live_server, tester):
    """A signed-in page whose requests to anywhere but the test server are aborted (and recorded)."""
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    context.add_cookies([session_cookie(tester, live_server.url)])
    here = urlsplit(live_server.url).netloc
    blocked = []

    def only_here(route):
        parts = urlsplit(route.request.url)
        if parts.scheme in ("data", "blob") or parts.netloc == here:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    return page, blocked, console


def _violations(page, console) -> list[str]:
    said = [line for line in console if "Content Security Policy" in line or "Refused to" in line]
    return page.evaluate("() => window.__cspViolations") + said


def test_swagger_ui_renders_the_operations_offline_with_no_csp_violation(live_server, offline_page):
    page, blocked, console = offline_page
    response = page.goto(f"{live_server.url}/api/docs/")
    assert response.status == 200
    page.wait_for_selector(".opblock-summary-path >> text=/api/v1/jobs/", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) > 20
    assert any("/api/v1/jobs/{id}/cancel/" in path.replace("\u200b", "") for path in paths)
    assert "cdn" not in response.text()
    assert blocked == []
    assert _violations(page, console) == []


# Redoc's bundle always tries to show Redocly's logo from Redocly's CDN (it hides the image when that fails);
# the policy refuses it, which is the one violation this page may raise.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_redoc_renders_the_operations_offline_with_no_csp_violation(live_server, offline_page):
    page, blocked, console = offline_page
    response = page.goto(f"{live_server.url}/api/redoc/")
    assert response.status == 200
    page.wait_for_selector("text=/api/v1/jobs/", timeout=30_000)
    assert page.locator("[data-section-id^='operation/']").count() > 20
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert blocked == []
    assert [found for found in _violations(page, console) if REDOCLY_LOGO not in found] == []

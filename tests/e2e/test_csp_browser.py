"""The strict Content-Security-Policy holds in a real browser: Chromium loads the main pages (sign-in, the
generate form with its htmx estimate and model redraw, a clip page playing its video, the gallery, the
manage pages) and not one CSP violation is reported, neither as a securitypolicyviolation event nor on
the console."""

import pytest

from access.models import Role
from tests.conftest import member, with_totp
from tests.e2e.browser import RECORD_VIOLATIONS, session_cookie, wait_playable
from tests.feedback.conftest import finished_clip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def watched(browser):
    """A page that records CSP violations and console errors (closed by `journey_screenshots`)."""
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    return page, console


def _violations(page, console) -> list[str]:
    events = page.evaluate("() => window.__cspViolations")
    said = [line for line in console if "Content Security Policy" in line or "Refused to" in line]
    return events + said


def test_the_main_pages_raise_no_csp_violations(live_server, watched, password, cohort, programme):
    page, console = watched
    base = live_server.url
    tester = member("artist@example.org", programme=programme, role=Role.ARTIST, cohort=cohort)
    clip = finished_clip(tester, programme=programme)
    admin = with_totp(member("admin@example.org", programme=programme, role=Role.ADMIN, is_staff=True))
    seen = []

    page.goto(f"{base}/accounts/login/")
    seen.append(("sign-in", _violations(page, console)))
    page.fill("input[name=login]", tester.email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/clips/")
    page.wait_for_selector(".gallery .clip-card")
    seen.append(("gallery", _violations(page, console)))

    page.goto(f"{base}/clips/new/")
    page.wait_for_selector("#estimate:has-text('Left on your grant')")  # htmx fetched and swapped the estimate
    page.fill("textarea[name=prompt]", "a lighthouse in fog")
    page.press("textarea[name=prompt]", "Tab")  # the change event asks for a new estimate
    page.wait_for_selector("#estimate .estimate-seconds")
    page.select_option("select[name=model_key]", "wan2.1-1.3b")  # htmx redraws the form with Wan's choices
    page.wait_for_selector("select[name=num_frames] option[value='81']:checked", state="attached")
    seen.append(("generate form", _violations(page, console)))

    page.goto(f"{base}/clips/{clip.pk}/")
    wait_playable(page)
    played = page.evaluate(
        """async () => { const v = document.querySelector('video#clip'); v.muted = true; await v.play();
                         await new Promise(r => setTimeout(r, 200)); return v.currentTime > 0 && !v.error; }"""
    )
    assert played, "the clip plays under the policy"
    seen.append(("clip page", _violations(page, console)))

    for path in ["/feedback/", "/feedback/statement/", "/account/", "/account/tokens/", "/clips/presets/"]:
        page.goto(base + path)
        seen.append((path, _violations(page, console)))

    page.context.clear_cookies()
    page.context.add_cookies([session_cookie(admin, base)])
    for path in [
        "/manage/",
        f"/manage/{programme.slug}/",
        f"/manage/{programme.slug}/invitations/",
        f"/manage/{programme.slug}/audit/",
        f"/manage/{programme.slug}/feedback/",
        f"/manage/{programme.slug}/feedback/ratings/",
        f"/programmes/{programme.slug}/health/",
        f"/manage/{programme.slug}/prompt-policy/",
        "/staff/queue/",
        "/leak-alerts/",
        "/admin/",
    ]:
        response = page.goto(base + path)
        assert response.status == 200, path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
        seen.append((path, _violations(page, console)))

    assert [(where, found) for where, found in seen if found] == []

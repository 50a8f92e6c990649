"""Helpers for the browser tests: pages already signed in as someone, and a script recording CSP violations."""

from django.conf import settings
from django.test import Client

# Installed before any page script runs; every violation of the page (and of what htmx swaps in) is kept.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${where}`);
});
"""


def session_cookie(user, base_url: str) -> dict:
    """A browser cookie carrying a signed-in session for ``user`` (sign-in itself, and the second
    factor, are what other tests prove)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    return {"name": cookie.key, "value": cookie.value, "url": base_url}


def page_as(browser, live_server, user):
    """A page in a context of its own, signed in as ``user``."""
    context = browser.new_context()
    context.add_cookies([session_cookie(user, live_server.url)])
    return context.new_page()


def advanced_open(page):
    """Unfold the generate page's "Advanced" settings (the raw length and size, steps, guidance, seed and
    negative prompt), as a person clicks it; left as it is if it is open already."""
    if page.locator("details.advanced").get_attribute("open") is None:
        page.click("details.advanced > summary")


def raw_settings(page, *, frames: int, width: int, height: int, steps: int):
    """Set a clip's length, size and steps by hand under the generate page's "Advanced", as a person does."""
    advanced_open(page)
    page.select_option("select[name=num_frames]", str(frames))
    page.fill("input[name=width]", str(width))
    page.fill("input[name=height]", str(height))
    page.fill("input[name=num_steps]", str(steps))


def queued_clip_open(page):
    """After Render on the generate page (which stays, with a note naming the clip queued): open that clip."""
    page.click(".queued-note a")


def wait_playable(page, selector: str = "video#clip", timeout: int = 30_000):
    """Wait until the page's video has its first frames, as a viewer sees it play. The video is found
    first: after a click that opens another page, the old page (with no video) may still be showing."""
    page.wait_for_selector(selector, state="attached", timeout=timeout)
    page.wait_for_function(
        "s => { const v = document.querySelector(s); return v !== null && v.readyState >= 2; }",
        arg=selector,
        timeout=timeout,
    )

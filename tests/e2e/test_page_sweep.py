"""Every page of the access matrix, as each role that may open it, at a desktop width (1280 px) and a phone's
(390 px): the page never scrolls sideways (the document is no wider than the window) and says nothing on the
console; a screenshot of each page at each width is kept. The studio pages (generate, my clips, a clip's
page, collections, compare) also pass axe-core's accessibility rules with no serious or critical violation
(axe-core 4.14.1, vendored in tests/e2e/vendor/axe-core)."""

import re
import time
from pathlib import Path

import pytest
from django.urls import reverse

from tests.e2e.browser import session_cookie
from tests.e2e.conftest import screenshot_dir
from tests.test_access_matrix import MATRIX, ROLES, world_build

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}

# Matrix rows that are no page: files, feeds and fragments that htmx swaps into a page, and pages another
# project draws (the Django admin, DRF's browsable API, Swagger UI and Redoc), whose layout is theirs.
NOT_PAGES = {
    "healthz": "JSON",
    "livez": "JSON",
    "readyz": "JSON",
    "metrics": "Prometheus' text format",
    "generation:job_video": "a video",
    "generation:media": "a video",
    "generation:job_status": "a fragment",
    "generation:job_card": "a fragment",
    "generation:job_estimate": "a fragment",
    "competition:entry_status": "a fragment",
    "competition:film": "a video",
    "feedback:attachment": "a download",
    "feedback:report_clip": "a video",
    "feedback:report_input_image": "an image",
    "feedback:report_source_clip": "a video",
    "feedback_manage:ratings_export": "a CSV download",
    "feedback_manage:payout_export": "a CSV download",
    "access_manage:audit_export": "a CSV download",
    "account_pages:export": "a download",
    "api-schema": "the OpenAPI schema",
    "api-root": "DRF's browsable API",
    "api-docs": "Swagger UI",
    "api-redoc": "Redoc",
    "admin:index": "the Django admin",
    "admin:login": "the Django admin",
}

STUDIO = ["generation:job_create", "generation:job_list", "generation:job_detail"]
# The library's pages (generation/library_views.py), with the world's objects they name.
STUDIO += [
    "generation:collection_list",
    "generation:collection_detail",
    "generation:compare_pick",
    "generation:compare",
]
STUDIO_KWARGS = {
    "generation:job_detail": {"job_id": "clip"},
    "generation:collection_detail": {"collection_id": "collection"},
    "generation:compare": {"left_id": "clip", "right_id": "clip2"},
}

# The rating and review forms' scales: each question's radios sit in one row on a desktop (issue 14, item 4).
INLINE_RADIOS = {"feedback:clip_rate", "reviews:review"}
STACKED = """() => { const groups = {};
  for (const r of document.querySelectorAll('input[type=radio]')) (groups[r.name] ||= []).push(r);
  return Object.entries(groups).filter(([, rs]) => { const tops = rs.map(r => r.getBoundingClientRect().top);
    return rs.length > 1 && Math.max(...tops) - Math.min(...tops) > 8; }).map(([name]) => name); }"""

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# The outermost elements that reach past the window's right edge, to say what to fix.
WIDE = """() => { const edge = document.documentElement.clientWidth; const seen = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.getBoundingClientRect().right > edge + 1 && !seen.some(o => o.contains(el))) seen.push(el); }
  return seen.slice(0, 3).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
    + ' ' + Math.round(el.getBoundingClientRect().width) + 'px'); }"""


def _pages(world) -> list[tuple[str, str, dict[str, str]]]:
    """(URL name, URL, each role's outcome) for every GET page row."""
    pages = []
    for row in MATRIX:
        if row.method != "GET" or row.api or row.name in NOT_PAGES:
            continue
        kwargs = {name: world.get(value, value) for name, value in row.kwargs.items()}
        pages.append((row.name, reverse(row.name, kwargs=kwargs), row.outcomes()))
    return pages


def _shot(page, name: str) -> None:
    folder = screenshot_dir() / "sweep"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
    path.write_bytes(page.screenshot(full_page=True))


def test_every_page_fits_a_phone_and_a_desktop_for_every_role(live_server, browser):
    people, world = world_build()
    base = live_server.url
    pages = _pages(world)
    problems, visits, shot, console, shooting = [], 0, set(), [], 0.0
    started = time.monotonic()
    for role in ROLES:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        if role != "anonymous":
            context.add_cookies([session_cookie(people[role], base)])
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and console.append(message.text))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        for name, url, outcomes in pages:
            if outcomes[role] != "ok":
                continue
            # One load per page: the other width is a resize, which re-applies the layout and media queries.
            console.clear()
            response = page.goto(base + url)
            visits += 1
            if response is None or response.status >= 400:
                problems.append(f"{role} {name}: answered {response and response.status}")
                continue
            if console:
                problems.append(f"{role} {name}: console says {console}")
            widths = list(WIDTHS.items())
            if page.viewport_size["width"] != widths[0][1][0]:
                widths.reverse()
            for width_name, (width, height) in widths:
                page.set_viewport_size({"width": width, "height": height})
                overflow = page.evaluate(OVERFLOW)
                if overflow > 0:
                    wide = page.evaluate(WIDE)
                    problems.append(f"{role} {name} {width}px: scrolls sideways by {overflow} px ({wide})")
                if name in INLINE_RADIOS and width_name == "desktop" and (stacked := page.evaluate(STACKED)):
                    problems.append(f"{role} {name}: the radios of {stacked} are not in one row")
                if (name, width_name) not in shot:
                    shot.add((name, width_name))
                    before = time.monotonic()
                    _shot(page, f"{name}-{width_name}-{role}")
                    shooting += time.monotonic() - before
        context.close()
    elapsed = time.monotonic() - started
    print(f"sweep: {visits} page loads, {len(shot)} screenshots ({shooting:.1f} s of them), {elapsed:.1f} s")
    assert visits > 100
    assert problems == [], "\n".join(problems)


def _serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def test_the_studio_pages_pass_axe(live_server, browser):
    people, world = world_build()
    base = live_server.url
    # axe's script is injected inline, which the site's CSP forbids; test_csp_browser.py proves the policy.
    context = browser.new_context(bypass_csp=True)
    context.add_cookies([session_cookie(people["tester"], base)])
    page = context.new_page()
    found = []
    for name in STUDIO:
        kwargs = {key: world[value] for key, value in STUDIO_KWARGS.get(name, {}).items()}
        for width_name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.goto(base + reverse(name, kwargs=kwargs))
            page.wait_for_load_state("networkidle")
            found += [f"{name} {width_name}: {violation}" for violation in _serious_violations(page)]
    context.close()
    assert found == [], "\n".join(found)


def test_the_header_folds_into_a_menu_on_a_phone(live_server, browser):
    people, _ = world_build()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies([session_cookie(people["tester"], live_server.url)])
    page = context.new_page()
    page.goto(live_server.url + reverse("generation:job_list"))
    header_height = page.evaluate("() => document.querySelector('.site-header').getBoundingClientRect().height")
    assert header_height < 80, "one line: the brand and the Menu button"
    assert not page.is_visible(".nav-links a:has-text('Generate')")
    page.click("label.nav-toggle-label")
    page.click(".nav-links a:has-text('Generate')")
    page.wait_for_url(f"{live_server.url}{reverse('generation:job_create')}")
    page.set_viewport_size({"width": 1280, "height": 800})
    assert page.is_visible(".nav-links a:has-text('Generate')") and not page.is_visible("label.nav-toggle-label")
    context.close()

"""Every creative mode as an artist meets it, in Chromium, against a running Backlot (`make run`, or
platform/run.sh with its worker): sign in, render from the generate page in each mode, and time each from the
click on Render to the clip playing on its page. Saves screenshots of the composer, its live column of recent
clips while a clip renders, a finished clip's page and the composer on a phone (390 px) in --out.

    .venv/bin/python bench/modes_browser.py --url http://127.0.0.1:8117 --email demo@backlot.local \
        --password-file var/demo-password [--out var/screens] [--models ltx-video,cogvideox-2b,wan2.1-14b]

Modes whose model the account's grant lacks are skipped (and said so).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import queued_clip_open, raw_settings, wait_playable  # noqa: E402

LAUNCH = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
LTX = {"frames": 17, "width": 256, "height": 256, "steps": 4}
COG = {"frames": 25, "width": 256, "height": 256, "steps": 4}
WAN = {"frames": 9, "width": 256, "height": 256, "steps": 4}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password-file", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "screens")
    parser.add_argument("--models", default="ltx-video,cogvideox-2b,wan2.1-14b")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        session = Session(page, args)
        session.sign_in(args.password_file.read_text().strip())
        rows = session.every_mode(args.models.split(","))
        browser.close()
    print(f"\n{os.cpu_count()} cores; load average now {os.getloadavg()[0]:.1f}")
    print("| mode | model | size | click Render to playable, s | load avg |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print("\nscreenshots:", *sorted(str(path) for path in args.out.glob("*.png")), sep="\n  ")
    print("console errors:", problems or "none")


class Session:
    def __init__(self, page, args):
        self.page, self.url, self.out, self.email = page, args.url.rstrip("/"), args.out, args.email
        self.rows: list[tuple] = []
        still = args.out / "still.png"
        last = args.out / "last.jpg"
        from PIL import Image

        Image.new("RGB", (320, 200), (220, 60, 30)).save(still)
        Image.new("RGB", (320, 200), (30, 60, 220)).save(last)
        self.still, self.last = str(still), str(last)

    def sign_in(self, password: str) -> None:
        page = self.page
        page.goto(f"{self.url}/accounts/login/")
        page.fill("input[name=login]", self.email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    def shot(self, name: str) -> None:
        # caret="initial": Playwright hides the text caret by setting a style on every input, which htmx's next swap
        # copies and the site's CSP then refuses (a console error of the tool's making, not the page's).
        self.page.screenshot(path=str(self.out / f"{name}.png"), full_page=True, caret="initial")

    def composer(self, model: str, prompt: str, mode: str, size: dict) -> bool:
        """The generate page set for ``model`` and ``mode``; False if the grant does not offer them."""
        page = self.page
        page.goto(f"{self.url}/clips/new/")
        if page.locator(f"select[name=model_key] option[value='{model}']").count() == 0:
            return False
        if page.input_value("select[name=model_key]") != model:
            page.select_option("select[name=model_key]", model)
            page.wait_for_function(
                "m => document.querySelector('select[name=model_key]').value === m"
                " && !document.querySelector('#job-form.htmx-request')",
                arg=model,
            )
            page.wait_for_load_state("networkidle")
        if page.locator(f"input[name=mode][value={mode}]").count() == 0:
            return False
        page.fill("textarea[name=prompt]", prompt)
        page.check(f"input[name=mode][value={mode}]")
        raw_settings(page, **size)
        return True

    def render(self, label: str, model: str, size: str, *, live_shot: str = "") -> str:
        """Click Render, open the queued clip, wait until it plays; one row of the table. Returns the clip's URL."""
        page = self.page
        begin = time.perf_counter()
        page.click("button:has-text('Render')")
        page.wait_for_selector(".queued-note a")
        if live_shot:  # the recent column with the new clip waiting or rendering in it
            page.wait_for_selector(".recent-clip", timeout=30_000)
            self.shot(live_shot)
        queued_clip_open(page)
        page.wait_for_selector("video#clip", state="attached", timeout=300_000)
        wait_playable(page, timeout=60_000)
        seconds = time.perf_counter() - begin
        self.rows.append((label, model, size, f"{seconds:.2f}", f"{os.getloadavg()[0]:.1f}"))
        print(f"{label} ({model}): {seconds:.2f} s", flush=True)
        return page.url

    def derive(self, clip_url: str, action: str, mode: str) -> None:
        page = self.page
        page.goto(clip_url)
        page.click(f"a.mode-action:has-text('{action}')")
        page.wait_for_url("**/clips/new/?derive=*")
        assert page.is_checked(f"input[name=mode][value={mode}]")

    def every_mode(self, models: list[str]) -> list[tuple]:
        page = self.page
        if "ltx-video" in models:
            size = "256x256, 17 f, 4 steps"
            self.composer("ltx-video", "a red bird over the sea", "text_to_video", LTX)
            self.shot("composer-desktop")
            source = self.render("text to video", "ltx-video", size, live_shot="composer-live-feed")
            self.shot("clip-page-desktop")
            self.composer("ltx-video", "a red bird over the sea", "image_to_video", LTX)
            page.set_input_files("input[name=image]", self.still)
            self.render("image to video", "ltx-video", size)
            self.composer("ltx-video", "a red kite turning blue", "keyframes", LTX)
            page.set_input_files("input[name=image]", self.still)
            page.set_input_files("input[name=last_image]", self.last)
            self.render("first and last frame", "ltx-video", size)
            self.derive(source, "Extend", "extend")
            self.render("extend (its default length)", "ltx-video", "256x256, 4 steps")
            self.derive(source, "Upscale", "upscale")
            self.render("upscale 2x", "ltx-video", "512x512, 17 f")
            page.goto(source)
            page.wait_for_selector("text=Extend a clip")  # the lineage: the source names what was made from it
        if "cogvideox-2b" in models:
            if self.composer("cogvideox-2b", "a storm over a harbour", "text_to_video", COG):
                storm = self.render("text to video", "cogvideox-2b", "256x256, 25 f, 4 steps")
                self.derive(storm, "Restyle", "restyle")
                page.fill("input[name=strength]", "0.6")
                self.render("restyle (0.6)", "cogvideox-2b", "256x256, 25 f, 4 steps")
            else:
                print("cogvideox-2b: not offered to this account; skipped")
        if "wan2.1-14b" in models:
            if self.composer("wan2.1-14b", "a horse running", "image_to_video", WAN):
                page.set_input_files("input[name=image]", self.still)
                self.render("image to video", "wan2.1-14b", "256x256, 9 f, 4 steps")
                self.composer("wan2.1-14b", "a horse running", "keyframes", WAN)
                page.set_input_files("input[name=image]", self.still)
                page.set_input_files("input[name=last_image]", self.last)
                self.render("first and last frame", "wan2.1-14b", "256x256, 9 f, 4 steps")
            else:
                print("wan2.1-14b: not offered to this account; skipped")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{self.url}/clips/new/")
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        print(f"composer at 390 px: scrolls sideways by {overflow} px")
        self.shot("composer-phone")
        return self.rows


if __name__ == "__main__":
    main()

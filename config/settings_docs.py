"""Write the configuration reference and the production environment template from config/settings_spec.py.

    python -m config.settings_docs --write   # regenerate both files
    python -m config.settings_docs --check   # exit 1, naming the stale files, when either differs

Neither file is edited by hand: change the declaration and regenerate (tests/test_platform.py fails when
they are stale).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from config.settings_spec import GROUPS, SETTINGS, Computed, Setting

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference" / "configuration.md"
TEMPLATE = ROOT / "platform" / "backlot.env.example"
COMMAND = "python -m config.settings_docs --write"


def _raw(value: object) -> str:
    """A default as it would be written in the environment."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def default_shown(setting: Setting) -> str:
    """The default as the reference shows it (Markdown)."""
    if setting.shown:
        return setting.shown
    if isinstance(setting.default, Computed):
        return setting.default.shown
    shown = f"`{_raw(setting.default)}`" if _raw(setting.default) != "" else "empty"
    if setting.production_default is not None:
        production = _raw(setting.production_default)
        shown += f"; with DEBUG off: `{production}`" if production else "; with DEBUG off: none (required)"
    return shown


def reference() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from config/settings_spec.py by `" + COMMAND + "`: edit that, not this. -->",
        "",
        "Every setting comes from an environment variable; unset, each takes the embedded default below, so",
        "`make run` works on a fresh machine with nothing installed. `platform/backlot.env.example` is a template",
        "for production with every variable (generated from the same declarations). `$BACKLOT_VAR_DIR` in a",
        "default is the folder that `BACKLOT_VAR_DIR` names.",
        "",
        "A malformed value (a word where a number belongs, an unknown storage kind, a rate that is not",
        "count/period) stops every process at start with a message naming the variable.",
        "",
    ]
    for group in GROUPS:
        members = [setting for setting in SETTINGS if setting.group == group.key]
        lines += [f"## {group.title}", ""]
        if group.intro:
            lines += [group.intro, ""]
        lines += ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
        for setting in members:
            where = "" if setting.read_by == "config/settings.py" else f" Read by `{setting.read_by}`."
            help_text = setting.help.replace("|", "\\|")
            lines.append(f"| `{setting.name}` | {setting.type} | {default_shown(setting)} | {help_text}{where} |")
        lines.append("")
    return "\n".join(lines)


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=110, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)


def template() -> str:
    lines = [
        "# Backlot environment. Copy to /etc/backlot/backlot.env (mode 0600) for production.",
        "# Every variable is optional in development: unset, Backlot runs on the embedded defaults",
        "# (docs/reference/configuration.md). The values below are suggestions for production.",
        "# Generated from config/settings_spec.py by `" + COMMAND + "`: edit that, not this.",
    ]
    for group in GROUPS:
        heading = f"# --- {group.title} "
        lines += ["", heading + "-" * max(3, 100 - len(heading))]
        if group.intro:
            lines += _comment(group.intro)
        for setting in SETTINGS:
            if setting.group != group.key:
                continue
            lines += _comment(setting.help)
            if setting.example is not None:
                value = setting.example
            elif isinstance(setting.default, Computed):
                value = ""
            else:
                value = _raw(setting.default)
            lines.append(f"{setting.name}={value}")
    return "\n".join(lines) + "\n"


def outputs() -> dict[Path, str]:
    return {REFERENCE: reference(), TEMPLATE: template()}


def stale() -> list[Path]:
    return [path for path, text in outputs().items() if not path.exists() or path.read_text() != text]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="Regenerate the files.")
    action.add_argument("--check", action="store_true", help="Exit 1 when a file is stale.")
    args = parser.parse_args(argv)
    if args.write:
        for path, text in outputs().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {_name(path)}")
        return 0
    behind = stale()
    for path in behind:
        print(f"{_name(path)} is stale: run {COMMAND}", file=sys.stderr)
    return 1 if behind else 0


if __name__ == "__main__":
    sys.exit(main())

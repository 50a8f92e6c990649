"""What free text may hold, everywhere a person types it (forms, API, services): no control characters
(tab and line breaks only where several lines are allowed), no bidirectional overrides or isolates (they make
text read differently from how it is stored, e.g. to disguise a prompt or a name), and at least one visible
character. Refused rather than cleaned, so the person sees why and nothing is stored that they did not see."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

# Embeddings, overrides and isolates. The plain marks (U+200E, U+200F, U+061C) are allowed: right-to-left
# writers use them to place punctuation, and they cannot reorder a run of text.
BIDI_CONTROLS = {
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
}
LINE_BREAKS = "\n\r\u2028\u2029"
# Letters and symbols that draw nothing, though Unicode does not class them as spaces or formatting.
_BLANK_GLYPHS = set("\u034f\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0")
NOTHING_VISIBLE = "Write some visible text: this holds only spaces or invisible characters."


def _name(char: str) -> str:
    return f"U+{ord(char):04X}" + (f" {unicodedata.name(char)}" if unicodedata.name(char, "") else "")


def _visible(char: str) -> bool:
    return not (char.isspace() or char in _BLANK_GLYPHS or unicodedata.category(char) in ("Cc", "Cf", "Mn", "Me", "Cs"))


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be stored as text a person wrote, or None when it can. Empty text is left to
    the field's own rule (required or not)."""
    if not value:
        return None
    for position, char in enumerate(value, start=1):
        if char in BIDI_CONTROLS:
            return (
                f"Remove the {BIDI_CONTROLS[char]} character ({_name(char)}) at position {position}: "
                "direction controls can make text read differently from what it says."
            )
        if char in LINE_BREAKS or char == "\t":
            if not multiline:
                return f"Write this on one line: remove the line break or tab at position {position}."
            continue
        category = unicodedata.category(char)
        if category == "Cc":
            return f"Remove the control character {_name(char)} at position {position}."
        if category == "Cs":
            return f"Remove the unpaired surrogate {_name(char)} at position {position}: it is not a character."
    if not any(_visible(char) for char in value):
        return NOTHING_VISIBLE
    return None


def text_check(value: str, *, multiline: bool = False) -> None:
    """Raise ValidationError when ``value`` may not be stored (see ``text_problem``)."""
    problem = text_problem(value, multiline=multiline)
    if problem:
        raise ValidationError(problem, code="text")


def single_line_text(value) -> None:
    """Validator for a one-line text field (a title, a name, a search)."""
    if isinstance(value, str):
        text_check(value, multiline=False)


def multi_line_text(value) -> None:
    """Validator for a text area (a prompt, a description, a comment): tabs and line breaks are allowed."""
    if isinstance(value, str):
        text_check(value, multiline=True)


TEXT_VALIDATORS = (single_line_text, multi_line_text)

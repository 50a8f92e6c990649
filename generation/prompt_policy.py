"""A programme's prompt policy: blocked words and phrases and regular expressions that its admins
edit, checked at every submission (form, API, variations) before a job is queued. A refused
submission queues nothing, charges nothing and is recorded for the red team.

Prompts are compared after folding away the easy evasions: case, accents, fullwidth and other
compatibility forms, invisible characters, lookalike Cyrillic and Greek letters, runs of spaces or
punctuation between words, letters spaced out one by one ("b o m b", "a n u c l e a r bomb"), a
phrase run together into one word ("nuclearbomb"), and digits or symbols standing in for letters
inside a word that has letters too ("b0mb", "k1ll", "n@palm"; "1" is tried as both "i" and "l", and
numbers on their own such as "1999" or "35mm" are left alone). Patterns run on the same
folded text, with the ``regex`` module's timeout, so no pattern can hang a submission.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass

import regex
from django.core.exceptions import ValidationError
from django.db import transaction

from access.audit import audit
from access.models import Programme
from generation.models import PromptRefusal, PromptRule

log = logging.getLogger(__name__)

TERM_MAX_LENGTH = 200
PATTERN_MAX_LENGTH = 200
REASON_MAX_LENGTH = 300
# A pattern that needs longer than this on one prompt is treated as matching (the check fails closed).
PATTERN_TIMEOUT_SECONDS = 0.05
MATCHED_TEXT_MAX_LENGTH = 200
REFUSED = "Refused by the programme's prompt policy: {reason}"

# Latin lookalikes from Cyrillic and Greek that NFKC leaves alone.
_LOOKALIKES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "α": "a",
        "β": "b",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
    }
)
_WORD = re.compile(r"[^\W_]+")
# Leetspeak: digits and symbols written for letters. "1" reads as "i" in one pass and "l" in the other.
_LEET_PASSES = (str.maketrans("0134578@$!", "oieastbasi"), str.maketrans("0134578@$!", "oleastbasl"))
_LEET_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Folded:
    """Text with the evasions folded away, and for each of its characters the index of the
    character of the original text it came from (to quote what matched as it was written)."""

    text: str
    origin: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start], self.origin[end - 1] + 1


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char.isspace():
        return " "
    if unicodedata.category(char) in ("Cf", "Cc", "Mn", "Me"):  # invisible characters, combining accents
        return ""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char).casefold())
    return "".join(part for part in folded if not unicodedata.combining(part)).translate(_LOOKALIKES)


def fold(text: str) -> Folded:
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in _fold_char(char):
            if part.isspace() and (not chars or chars[-1] == " "):
                continue
            chars.append(" " if part.isspace() else part)
            origin.append(index)
    return Folded("".join(chars), tuple(origin))


def _leet_candidate(token: str) -> bool:
    """A token whose digits or symbols may stand for letters: it mixes letters with them, and is not
    a number with a unit ("35mm", "4k", "1080p": the digits all come first)."""
    stripped = token.lstrip("0123456789")
    return any(char.isalpha() for char in token) and any(char in "0134578@$!" for char in stripped)


def unleet(folded: Folded, table: dict) -> Folded | None:
    """``folded`` with each leetspeak-looking token read as letters through ``table``, character for
    character (so spans still point at the original text); None when nothing changes."""
    text = _LEET_TOKEN.sub(
        lambda match: match.group().translate(table) if _leet_candidate(match.group()) else match.group(), folded.text
    )
    return Folded(text, folded.origin) if text != folded.text else None


@functools.lru_cache(maxsize=4096)
def term_words(term: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(term).text))


class Words:
    """The words of a folded text (runs of letters and digits) with their spans, indexed to find
    phrases quickly, and run together (``squashed``) to find phrases written without their spaces."""

    def __init__(self, folded: Folded):
        self.words = [(match.group(), match.start(), match.end()) for match in _WORD.finditer(folded.text)]
        self.starts: dict[str, list[int]] = {}
        self.squashed_starts: dict[int, int] = {}  # position in ``squashed`` -> index of the word starting there
        self.squashed_ends: dict[int, int] = {}
        position = 0
        for index, (word, _, _) in enumerate(self.words):
            self.starts.setdefault(word, []).append(index)
            self.squashed_starts[position] = index
            position += len(word)
            self.squashed_ends[position] = index
        self.squashed = "".join(word for word, _, _ in self.words)

    def _span(self, first: int, last: int) -> tuple[int, int]:
        return self.words[first][1], self.words[last][2]

    def find(self, wanted: tuple[str, ...]) -> tuple[int, int] | None:
        """Where the words ``wanted`` follow each other, as a span of the folded text; else where they
        are written run together as one word ("nuclearbomb"), or with letters spaced out, whole or in
        part ("b o m b", "n.u.c.l.e.a.r bomb"); None when they are nowhere."""
        size = len(wanted)
        for index in self.starts.get(wanted[0], ()):
            if tuple(word for word, _, _ in self.words[index : index + size]) == wanted:
                return self._span(index, index + size - 1)
        target = "".join(wanted)
        start = self.squashed.find(target)
        while start != -1:
            first, last = self.squashed_starts.get(start), self.squashed_ends.get(start + len(target))
            if first is not None and last is not None and self._spelled(first, last, size):
                return self._span(first, last)
            start = self.squashed.find(target, start + 1)
        return None

    def _spelled(self, first: int, last: int, size: int) -> bool:
        """Whether words ``first``..``last``, run together, are a phrase of ``size`` words written
        differently: as one word, or with at least two letters spaced out and whole words only at
        the ends (so that "an al" is not "anal", but "a n a l" is)."""
        if first == last:
            return size > 1
        inner = self.words[first + 1 : last]
        singles = sum(len(word) == 1 for word, _, _ in self.words[first : last + 1])
        return all(len(word) == 1 for word, _, _ in inner) and singles >= 2


class PatternTooSlow(Exception):
    pass


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str):
    return regex.compile(pattern, regex.IGNORECASE | regex.FULLCASE)


def _stress_inputs(pattern: str) -> list[str]:
    letters = {char for char in pattern if char.isalnum()} | {"a", "x", "1", " ", "."}
    return [text for char in sorted(letters)[:20] for text in (char * 60 + "!", (char + " ") * 30 + "!")]


def pattern_validate(pattern: str) -> None:
    """Raise ValidationError unless ``pattern`` compiles, is short, and stays quick on prompts made
    to make it backtrack (nested repeats such as ``(a+)+`` take exponential time)."""
    if len(pattern) > PATTERN_MAX_LENGTH:
        raise ValidationError(f"Patterns are limited to {PATTERN_MAX_LENGTH} characters (this one has {len(pattern)}).")
    try:
        compiled = _compiled(pattern)
    except (regex.error, ValueError, OverflowError, RecursionError) as error:
        raise ValidationError(f"This is not a valid regular expression: {error}.") from None
    if compiled.search(""):
        raise ValidationError("This pattern matches an empty prompt, so it would refuse every prompt.")
    for text in _stress_inputs(pattern):
        try:
            compiled.search(text, timeout=PATTERN_TIMEOUT_SECONDS)
        except TimeoutError:
            raise ValidationError(
                "This pattern takes too long on some prompts (it backtracks catastrophically). Simplify it: "
                "avoid a repeat inside a repeat, such as (a+)+ or (a|aa)*."
            ) from None


def rule_validate(*, kind: str, text: str, reason: str) -> dict[str, str]:
    """Every rule a prompt rule must meet, as {field: message}; empty when it may be saved."""
    errors: dict[str, str] = {}
    if kind not in PromptRule.Kind.values:
        errors["kind"] = "Choose a blocked word or phrase, or a regular expression."
    if not text.strip():
        errors["text"] = "Write the word, phrase or pattern to refuse."
    elif kind == PromptRule.Kind.TERM:
        if len(text) > TERM_MAX_LENGTH:
            errors["text"] = f"Words and phrases are limited to {TERM_MAX_LENGTH} characters."
        elif not term_words(text):
            errors["text"] = "A blocked phrase needs at least one letter or digit."
    elif kind == PromptRule.Kind.PATTERN:
        try:
            pattern_validate(text)
        except ValidationError as error:
            errors["text"] = error.messages[0]
    if not reason.strip():
        errors["reason"] = "Say why, in words the person refused will understand: they are shown this."
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = f"Reasons are limited to {REASON_MAX_LENGTH} characters."
    return errors


# --- Checking prompts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    rule: PromptRule
    field: str  # "prompt" or "negative_prompt"
    matched_text: str

    @property
    def message(self) -> str:
        return REFUSED.format(reason=self.rule.reason)


def _rule_match(rule: PromptRule, folded: Folded, words: list[Words]) -> tuple[int, int] | None:
    """Where ``rule`` matches in the folded text, as a span of it; (0, 0) when a pattern ran out of time."""
    if rule.kind == PromptRule.Kind.TERM:
        wanted = term_words(rule.text)
        if not wanted:
            return None
        return next((span for variant in words if (span := variant.find(wanted)) is not None), None)
    try:
        match = _compiled(rule.text).search(folded.text, timeout=PATTERN_TIMEOUT_SECONDS)
    except TimeoutError:
        log.warning("generation.prompt_rule_timeout rule=%s", rule.pk)
        return 0, 0
    except regex.error:  # saved before validation existed, or edited outside the service
        log.warning("generation.prompt_rule_invalid rule=%s", rule.pk)
        return None
    if match is None:
        return None
    return match.span() if match.end() > match.start() else (match.start(), match.start())


def _word_variants(folded: Folded) -> list[Words]:
    """The words as written, then as read through each leetspeak pass that changes something."""
    variants = [unleet(folded, table) for table in _LEET_PASSES]
    return [Words(folded)] + [Words(variant) for variant in dict.fromkeys(filter(None, variants))]


def prompt_matches(programme: Programme | None, prompt: str, negative_prompt: str = "", rules=None) -> list[Refusal]:
    """Every enabled rule of ``programme`` that the prompt or negative prompt breaks."""
    if programme is None:
        return []
    if rules is None:
        rules = PromptRule.objects.filter(programme=programme, enabled=True).order_by("pk")
    found = []
    texts = [("prompt", prompt), ("negative_prompt", negative_prompt)]
    folded = {field: fold(text) for field, text in texts}
    words = {field: _word_variants(folded[field]) for field, _ in texts}
    for rule in rules:
        for field, text in texts:
            span = _rule_match(rule, folded[field], words[field])
            if span is None:
                continue
            start, end = folded[field].original_span(*span) if span[1] > span[0] else (0, 0)
            found.append(Refusal(rule=rule, field=field, matched_text=text[start:end][:MATCHED_TEXT_MAX_LENGTH]))
            break
    return found


def prompt_check(programme: Programme | None, prompt: str, negative_prompt: str = "") -> Refusal | None:
    """The first rule of ``programme``'s policy that refuses this prompt, or None when it may be rendered."""
    matches = prompt_matches(programme, prompt, negative_prompt)
    return matches[0] if matches else None


def prompt_screen(*, user, programme: Programme | None, prompt: str, negative_prompt: str, model_key: str, via: str):
    """Check a submission against the policy; on a refusal, record it and raise ValidationError
    with the reason on the field that broke the rule. Call it outside any transaction that the
    error will roll back, or the record goes with it."""
    refusal = prompt_check(programme, prompt, negative_prompt)
    if refusal is None:
        return
    PromptRefusal.objects.create(
        user=user,
        programme=programme,
        prompt=prompt,
        negative_prompt=negative_prompt,
        model_key=model_key,
        rule=refusal.rule,
        rule_text=refusal.rule.text,
        reason=refusal.rule.reason,
        field=refusal.field,
        matched_text=refusal.matched_text,
        via=via,
    )
    log.info(
        "generation.prompt_refused user=%s programme=%s rule=%s via=%s", user.pk, programme.pk, refusal.rule.pk, via
    )
    raise ValidationError({refusal.field: refusal.message})


# --- Editing the policy (programme admins) -------------------------------------------------------


def _rule_state(rule: PromptRule) -> dict:
    return {"kind": rule.kind, "text": rule.text, "reason": rule.reason, "enabled": rule.enabled}


def _raise_if_invalid(programme: Programme, *, kind: str, text: str, reason: str, rule: PromptRule | None = None):
    errors = rule_validate(kind=kind, text=text, reason=reason)
    same = PromptRule.objects.filter(programme=programme, kind=kind, text=text).exclude(pk=rule.pk if rule else None)
    if "text" not in errors and same.exists():
        errors["text"] = "The policy already has this rule."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def prompt_rule_create(
    *, programme: Programme, kind: str, text: str, reason: str, enabled: bool = True, actor=None, ip=None
) -> PromptRule:
    text, reason = text.strip(), reason.strip()
    _raise_if_invalid(programme, kind=kind, text=text, reason=reason)
    rule = PromptRule.objects.create(
        programme=programme, kind=kind, text=text, reason=reason, enabled=enabled, created_by=actor
    )
    audit(
        "generation.prompt_rule_created", actor=actor, programme=programme, target=rule, ip=ip, rule=_rule_state(rule)
    )
    return rule


@transaction.atomic
def prompt_rule_update(*, rule: PromptRule, actor=None, ip=None, **changes) -> PromptRule:
    """Change a rule's kind, text, reason or whether it is enabled. Changing nothing records nothing."""
    rule = PromptRule.objects.select_for_update().get(pk=rule.pk)
    before = _rule_state(rule)
    after = {**before, **{field: value for field, value in changes.items() if field in before}}
    after["text"], after["reason"] = after["text"].strip(), after["reason"].strip()
    if after == before:
        return rule
    _raise_if_invalid(rule.programme, kind=after["kind"], text=after["text"], reason=after["reason"], rule=rule)
    for field, value in after.items():
        setattr(rule, field, value)
    rule.save(update_fields=[*after, "updated_at"])
    changed = {field: {"from": before[field], "to": after[field]} for field in after if after[field] != before[field]}
    audit("generation.prompt_rule_changed", actor=actor, programme=rule.programme, target=rule, ip=ip, changes=changed)
    return rule


@transaction.atomic
def prompt_rule_delete(*, rule: PromptRule, actor=None, ip=None) -> None:
    """Delete a rule that has refused nothing yet; one with refusals is kept for their record (disable it)."""
    used = rule.refusals.count()
    if used:
        raise ValidationError(
            f"This rule has refused {used} prompt{'s' if used != 1 else ''}; the red team's record needs it. "
            "Disable it instead."
        )
    audit(
        "generation.prompt_rule_deleted",
        actor=actor,
        programme=rule.programme,
        target=rule,
        ip=ip,
        rule=_rule_state(rule),
    )
    rule.delete()


# --- Reading refusals ----------------------------------------------------------------------------


def programme_refusals(programme: Programme):
    return PromptRefusal.objects.filter(programme=programme).select_related("user", "rule")

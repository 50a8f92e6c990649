"""The library's forms: starring a clip, naming a collection, putting a clip in one, choosing clips to compare.
They check the shape of what was sent; the rules (whose clip, which names) live in generation.library."""

import uuid

from django import forms

from core.input_checks import CheckedInput
from generation.library import NAME_MAX_LENGTH

NAME_REQUIRED = "Give the collection a name."


class FavouriteForm(CheckedInput, forms.Form):
    """Star or unstar: the state wanted, not a toggle, so that a double click or a stale page does no harm."""

    favourite = forms.TypedChoiceField(
        choices=[("1", "Star"), ("0", "Unstar")],
        coerce=lambda value: value == "1",
        error_messages={"required": "Say whether to star the clip (1) or unstar it (0)."},
    )


class CollectionNameForm(CheckedInput, forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH, strip=True, error_messages={"required": NAME_REQUIRED})


class CollectionAddForm(CheckedInput, forms.Form):
    """One of the person's collections, or the name of a new one to make for the clip."""

    collection = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Add to")
    new_name = forms.CharField(
        max_length=NAME_MAX_LENGTH, strip=True, required=False, label="or a new collection called"
    )

    def __init__(self, *args, collections=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collection"].choices = [("", "Choose a collection"), *((c.pk, c.name) for c in collections)]

    def clean(self):
        cleaned = super().clean()
        if not self.errors and bool(cleaned.get("collection")) == bool(cleaned.get("new_name")):
            raise forms.ValidationError("Choose one of your collections, or name a new one (not both).")
        return cleaned


def clip_ids(values: list[str]) -> tuple[list[uuid.UUID], str]:
    """The clip ids a compare request names, and what was wrong with them ("" when nothing was)."""
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value.strip()))
        except (ValueError, AttributeError):
            return [], f"{value[:40]!r} is not a clip id."
    return list(dict.fromkeys(ids)), ""

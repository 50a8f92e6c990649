"""A person's data export (access/export.py) carries the competition's part: their entries, the scores
those received (after results, reviewers as letters) and their appeals; never another entrant's."""

import csv
import io
import zipfile

import pytest

from access.export import export_build
from competition import results

pytestmark = pytest.mark.django_db


def _csv(content: bytes, name: str) -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_the_export_holds_the_persons_entries_scores_and_appeals(reviewed, call, admin_user, tester, tester2, reviewer):
    before = export_build(tester)
    [entry] = _csv(before, "competition_entries.csv")
    assert (entry["title"], entry["call"], entry["rank"], entry["score"]) == ("Moonrise", call.title, "", "")
    assert _csv(before, "competition_scores.csv") == [], "no scores before results are published"

    results.results_publish(call=call, actor=admin_user)
    results.appeal_file(submission=reviewed[1], entrant=tester2, text="Reviewer A did not watch the ending.")
    content = export_build(tester)

    [entry] = _csv(content, "competition_entries.csv")
    assert (entry["title"], entry["rank"], entry["winner"]) == ("Moonrise", "1", "True")
    assert float(entry["score"]) == pytest.approx(1.0)
    scores = _csv(content, "competition_scores.csv")
    assert sorted((row["reviewer"], row["criterion"], row["reason"]) for row in scores) == [
        ("A", "Craft", "Bright craft"),
        ("A", "Story", "Bright story"),
        ("B", "Craft", "Bright craft"),
        ("B", "Story", "Bright story"),
    ]
    assert sorted(row["score"] for row in scores) == ["2", "3", "3", "4"]
    assert _csv(content, "competition_appeals.csv") == [], "the appeal is the other entrant's"
    assert b"Flat" not in content and reviewer.email.encode() not in content and b"reviewer2@" not in content

    [appeal] = _csv(export_build(tester2), "competition_appeals.csv")
    assert (appeal["entry"], appeal["text"], appeal["outcome"]) == (
        "Low tide",
        "Reviewer A did not watch the ending.",
        "",
    )

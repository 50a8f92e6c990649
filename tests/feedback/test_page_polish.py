"""What the feedback pages print reads as a person writes it: measured values rounded with their unit, times
to the second, a decision's past tense, and a chart's axis label clear of its numbers."""

import re
from datetime import datetime, timedelta

import pytest

from feedback import ratings, reports
from feedback.charts import line_chart
from feedback.models import ClipRating
from feedback.templatetags.feedback_tags import reproduction_value

pytestmark = pytest.mark.django_db


def test_a_reports_reproduction_is_printed_humanly(tester, clip, admin_client):
    clip.encode_seconds, clip.gpu_seconds, clip.output_bytes = 3.865868814999999, 9.5, 1_234_567
    clip.save(update_fields=["encode_seconds", "gpu_seconds", "output_bytes"])
    report = reports.report_file(
        reporter=tester, kind="bug", title="Grey", steps="Render", expected="colour", actual="grey", job=clip
    )
    page = admin_client.get(report.get_absolute_url()).content.decode()
    assert "3.865868814999999" not in page and "encode_seconds" not in page
    assert re.search(r"<dt>Encoding time</dt><dd>3\.87 s</dd>", page)
    assert re.search(r"<dt>File size</dt><dd>1\.2\xa0MB</dd>", page)
    assert re.search(r"<dt>Finished</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</dd>", page)
    assert "T" not in re.search(r"<dt>Queued</dt><dd>([^<]*)</dd>", page).group(1)


def test_values_keep_what_is_not_a_measure():
    assert reproduction_value("seed", 7) == "7"
    assert reproduction_value("guidance_scale", 3.0) == "3"
    assert reproduction_value("error", None) == "—"
    assert reproduction_value("started_at", "not a time") == "not a time"


@pytest.mark.parametrize(("decision", "said"), [("accept", "accepted"), ("decline", "declined")])
def test_a_rating_decision_says_its_past_tense(decision, said, tester, clip, admin_client, programme):
    rating = ratings.rating_save(job=clip, author=tester, prompt_adherence=3, motion=3, visual_quality=3, artefacts=3)
    response = admin_client.post(
        f"/manage/{programme.slug}/feedback/ratings/{rating.pk}/decide/", {"decision": decision}, follow=True
    )
    page = response.content.decode()
    assert f"Rating of clip {clip.short_id} {said}." in page and "declineed" not in page
    assert ClipRating.objects.get().state == ("accepted" if decision == "accept" else "rejected")


def test_the_charts_axis_label_sits_above_the_top_number():
    start = datetime(2026, 1, 1)
    svg = str(line_chart({"LTX": [(start, 3.0), (start + timedelta(days=1), 4.5)]}, title="Ratings", y_label="score"))
    label_y = float(re.search(r'<text x="4" y="([\d.]+)"[^>]*>score</text>', svg).group(1))
    top_tick_y = min(float(y) for y in re.findall(r'<text x="42" y="([\d.]+)" text-anchor="end"', svg))
    assert top_tick_y - label_y >= 11  # one line of 11 px text apart: no overlap

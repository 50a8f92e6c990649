"""The showcase licence: opt-in per clip, revocable for future uses; each use pays the published fee and
credits the artist by name; nothing is shown without the opt-in."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from access.models import AuditEvent, Role
from access.programmes import programme_create
from feedback import showcase
from feedback.models import LedgerEntry, ShowcaseOffer, ShowcaseUse
from tests.conftest import member, with_totp
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db


def test_an_offered_clip_is_shown_credited_and_paid_then_withdrawn(
    tester_client, tester, admin_client, admin_user, clip, rates
):
    assert "No clips offered yet" in admin_client.get("/manage/alpha/feedback/showcase/").content.decode()
    response = tester_client.post(f"/feedback/clips/{clip.pk}/showcase/", {"credit_name": "Tess T."})
    assert response.status_code == 302
    offer = ShowcaseOffer.objects.get(job=clip)
    assert "Withdraw the offer" in tester_client.get(clip.get_absolute_url()).content.decode()

    page = admin_client.get("/manage/alpha/feedback/showcase/").content.decode()
    assert "Tess T." in page and clip.short_id in page
    response = admin_client.post(
        f"/manage/alpha/feedback/showcase/{offer.pk}/use/",
        {"kind": "screening", "description": "Opening night, Annecy"},
    )
    assert response.status_code == 302
    use = ShowcaseUse.objects.get()
    assert (use.credit_name, use.recorded_by) == ("Tess T.", admin_user)
    [entry] = LedgerEntry.objects.filter(person=tester)
    assert (entry.kind, entry.source, entry.amount, entry.points) == ("showcase", use, Decimal("150.00"), 5)
    assert AuditEvent.objects.filter(action="feedback.showcase_used", actor=admin_user).exists()

    tester_client.post(f"/feedback/clips/{clip.pk}/showcase/", {"action": "withdraw"})
    response = admin_client.post(
        f"/manage/alpha/feedback/showcase/{offer.pk}/use/", {"kind": "post", "description": "Instagram"}
    )
    assert response.status_code == 400 and "withdrawn this clip" in response.content.decode()
    # The use made before the withdrawal stands, and stays paid.
    assert ShowcaseUse.objects.count() == 1 and LedgerEntry.objects.filter(person=tester).count() == 1


def test_each_use_is_paid_once(tester, admin_user, clip, rates):
    offer = showcase.showcase_offer(job=clip, artist=tester)
    for description in ("Screening one", "Screening two"):
        showcase.showcase_use_record(offer=offer, kind="screening", description=description, actor=admin_user)
    assert [entry.amount for entry in LedgerEntry.objects.filter(person=tester)] == [Decimal("150.00")] * 2
    assert offer.credit_name == "Tess Tester"  # the display name unless they choose another


def test_nothing_is_showcased_without_the_artists_opt_in(client, tester, tester2, admin_user, clip, programme):
    finished_clip(tester, programme=programme, prompt="never offered")
    with pytest.raises(PermissionDenied):
        showcase.showcase_offer(job=clip, artist=tester2)
    assert "never offered" not in client.get("/manage/alpha/feedback/showcase/").content.decode()
    offer = showcase.showcase_offer(job=clip, artist=tester)
    showcase.showcase_revoke(offer=offer, artist=tester)
    with pytest.raises(ValidationError, match="withdrawn"):
        showcase.showcase_use_record(offer=offer, kind="post", description="x", actor=admin_user)


def test_only_the_programmes_admins_record_uses(client, tester, tester2, admin_user, clip, rates):
    offer = showcase.showcase_offer(job=clip, artist=tester)
    beta_admin = with_totp(member("beta@example.org", programme=programme_create(name="Beta"), role=Role.ADMIN))
    for person in (tester, tester2, beta_admin):
        client.force_login(person)
        response = client.post(f"/manage/alpha/feedback/showcase/{offer.pk}/use/", {"kind": "post", "description": "x"})
        assert response.status_code == 404
        with pytest.raises(PermissionDenied):
            showcase.showcase_use_record(offer=offer, kind="post", description="x", actor=person)
    assert not ShowcaseUse.objects.exists()


def test_bad_uses_are_refused(admin_client, tester, clip):
    offer = showcase.showcase_offer(job=clip, artist=tester)
    for data in ({"kind": "billboard", "description": "x"}, {"kind": "post", "description": ""}):
        assert admin_client.post(f"/manage/alpha/feedback/showcase/{offer.pk}/use/", data).status_code == 400
    assert not ShowcaseUse.objects.exists()

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from access.models import AuditEvent, TermsResponse
from access.policy import may_render
from access.terms import terms_publish, terms_respond
from generation.submission import job_create
from tests.factories import job_settings

pytestmark = pytest.mark.django_db

SMALL = job_settings()
V1 = "You may share clips you make.\nReport bugs you find.\nKeep the model confidential."
V2 = "You may share clips you make.\nReport bugs you find.\nKeep the model and its outputs confidential until launch."


@pytest.fixture
def terms_v1(programme, admin_user):
    return terms_publish(programme=programme, text=V1, actor=admin_user)


def test_a_tester_answers_the_terms_before_any_other_page(tester_client, tester, terms_v1):
    page = tester_client.get(reverse("generation:job_list"))
    assert page.status_code == 302 and page["Location"] == reverse("terms:answer", args=["alpha"])
    assert not may_render(tester)

    terms_page = tester_client.get(page["Location"]).content.decode()
    assert "Keep the model confidential." in terms_page and "version 1" in terms_page
    tester_client.post(reverse("terms:answer", args=["alpha"]), {"answer": "accept"})

    assert tester_client.get(reverse("generation:job_list")).status_code == 200
    assert may_render(tester)
    assert AuditEvent.objects.filter(action="access.terms_accepted", subject=tester, data__version=1).exists()


def test_a_new_version_asks_again_and_shows_what_changed(tester_client, tester, terms_v1, admin_user):
    terms_respond(user=tester, terms=terms_v1, accepted=True)
    first_job = job_create(owner=tester, **SMALL)
    terms_publish(
        programme=terms_v1.programme, text=V2, changes="Outputs stay confidential until launch.", actor=admin_user
    )

    page = tester_client.get(reverse("generation:job_list"))
    terms_page = tester_client.get(page["Location"]).content.decode()

    assert page.status_code == 302
    assert "What changed since version 1" in terms_page and "Outputs stay confidential until launch." in terms_page
    assert "-Keep the model confidential." in terms_page
    assert "+Keep the model and its outputs confidential until launch." in terms_page
    tester_client.post(reverse("terms:answer", args=["alpha"]), {"answer": "accept"})
    second_job = job_create(owner=tester, **SMALL)
    first_job.refresh_from_db()
    assert (first_job.terms.version, second_job.terms.version) == (1, 2), "terms are never retroactive"


def test_declining_keeps_earned_work_readable_but_stops_new_work(tester_client, tester, terms_v1):
    from tests.factories import RenderJobFactory

    earlier = RenderJobFactory(owner=tester, prompt="made before the terms")
    response = tester_client.post(reverse("terms:answer", args=["alpha"]), {"answer": "decline"})

    assert response.status_code == 302
    assert TermsResponse.objects.get(user=tester).accepted is False
    listing = tester_client.get(reverse("generation:job_list"))
    assert listing.status_code == 200 and "made before the terms" in listing.content.decode()
    assert tester_client.get(earlier.get_absolute_url()).status_code == 200
    with pytest.raises(PermissionDenied, match="Accept the current terms"):
        job_create(owner=tester, **SMALL)
    assert tester_client.get(reverse("generation:job_create")).status_code == 403
    assert AuditEvent.objects.filter(action="access.terms_declined", subject=tester).exists()


def test_an_outdated_version_cannot_be_answered(tester, terms_v1, admin_user):
    terms_publish(programme=terms_v1.programme, text=V2, changes="More confidentiality.", actor=admin_user)
    with pytest.raises(ValidationError, match="newer version"):
        terms_respond(user=tester, terms=terms_v1, accepted=True)
    assert not TermsResponse.objects.exists()


def test_publishing_needs_text_and_a_summary_of_changes(programme, terms_v1, admin_user):
    with pytest.raises(ValidationError):
        terms_publish(programme=programme, text="  ", actor=admin_user)
    with pytest.raises(ValidationError, match="Say what changed"):
        terms_publish(programme=programme, text=V2, actor=admin_user)


def test_the_terms_page_is_only_for_the_programmes_members(client, outsider, terms_v1):
    client.force_login(outsider)
    assert client.get(reverse("terms:answer", args=["alpha"])).status_code == 404


def test_a_bad_answer_changes_nothing(tester_client, tester, terms_v1):
    tester_client.post(reverse("terms:answer", args=["alpha"]), {"answer": "maybe"})
    assert not TermsResponse.objects.exists()

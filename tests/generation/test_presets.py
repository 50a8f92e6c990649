"""Presets: a person saves the generate form's settings under a name and starts later clips from it;
their presets are private. Programme presets are shared with the programme's members and managed by
its admins. A preset may ask for more than a grant allows: it is shown, and the form still refuses."""

import pytest
from django.http import Http404
from django.urls import reverse

from access.models import AuditEvent, Role
from access.programmes import cohort_create, programme_create
from access.tokens import token_create
from generation.models import Preset, RenderJob
from generation.presets import preset_create, preset_rename
from tests.conftest import member, with_totp
from tests.factories import render_settings

pytestmark = pytest.mark.django_db

SETTINGS = render_settings(
    num_frames=25, width=256, height=192, num_steps=4, guidance_scale=3.5, negative_prompt="blur, text"
)
FORM = {"prompt": "a fox running through snow", "variations": "1"} | {
    key: "" if value is None else str(value) for key, value in SETTINGS.items()
}
PRESETS = "/api/v1/presets/"


@pytest.fixture
def mine(tester):
    return preset_create(name="Small and quick", settings={**SETTINGS, "seed": 7}, owner=tester, actor=tester)


@pytest.fixture
def shared(programme, admin_user):
    """A programme preset asking for 161 frames: more than the red team's grant (121) allows."""
    return preset_create(
        name="House style",
        settings={**SETTINGS, "num_frames": 161, "width": 704, "height": 480},
        programme=programme,
        actor=admin_user,
    )


@pytest.fixture
def beta_member():
    programme = programme_create(name="Beta")
    return member(
        "beta@example.org",
        programme=programme,
        role=Role.ARTIST,
        cohort=cohort_create(programme=programme, name="Beta wave"),
    )


def _form(client, preset):
    return client.get(reverse("generation:job_create"), {"preset": preset.pk})


# --- Saving and using a preset -------------------------------------------------------------------


def test_saving_the_forms_settings_as_a_preset(tester_client, tester):
    response = tester_client.post(
        reverse("generation:preset_create"), {**FORM, "seed": "1234", "preset_name": " Night shots "}
    )

    preset = Preset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('generation:job_create')}?preset={preset.pk}"
    assert (preset.name, preset.owner, preset.programme) == ("Night shots", tester, None)
    assert preset.render_settings() == SETTINGS  # the seed only when asked for; never the prompt
    assert not RenderJob.objects.exists()


def test_the_seed_is_kept_when_asked_for(tester_client):
    tester_client.post(
        reverse("generation:preset_create"), {**FORM, "seed": "1234", "preset_name": "Fixed", "preset_keep_seed": "1"}
    )
    assert Preset.objects.get().seed == 1234


def test_a_preset_fills_the_form(tester_client, mine):
    response = _form(tester_client, mine)

    assert response.status_code == 200
    form = response.context["form"]
    assert {field: form.initial[field] for field in SETTINGS} == {**SETTINGS, "seed": 7}
    html = response.content.decode()
    assert 'value="25"' in html and 'value="3.5"' in html and "blur, text</textarea>" in html
    assert f'<option value="{mine.pk}" selected>Small and quick</option>' in html


def test_the_filled_form_renders(tester_client, tester, mine):
    response = tester_client.post(reverse("generation:job_create"), {**FORM, "seed": "7"})

    job = RenderJob.objects.get()
    assert response.status_code == 302
    assert (job.num_frames, job.guidance_scale, job.negative_prompt, job.seed) == (25, 3.5, "blur, text", 7)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"preset_name": ""}, "Give the preset a name."),
        ({"preset_name": "x" * 81}, "at most 80 characters"),
        ({"num_frames": "26"}, "8k+1"),
        ({"width": "250"}, "multiple of 32"),
        ({"model_key": "sora"}, "Select a valid choice"),
    ],
)
def test_a_bad_preset_is_refused_and_the_form_kept(tester_client, change, message):
    response = tester_client.post(reverse("generation:preset_create"), {**FORM, "preset_name": "P", **change})

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "a fox running through snow</textarea>" in html
    assert not Preset.objects.exists()


def test_preset_names_are_unique_per_owner(tester_client, tester2, mine):
    response = tester_client.post(reverse("generation:preset_create"), {**FORM, "preset_name": "small AND quick"})
    assert response.status_code == 400 and "You already have a preset called" in response.content.decode()

    preset_create(name="Small and quick", settings=SETTINGS, owner=tester2)  # someone else may use the name
    assert Preset.objects.count() == 2


def test_renaming_and_deleting_ones_own_presets(tester_client, mine):
    tester_client.post(reverse("generation:preset_rename", args=[mine.pk]), {"name": "Tiny"})
    mine.refresh_from_db()
    assert mine.name == "Tiny"
    assert "Tiny" in tester_client.get(reverse("generation:preset_list")).content.decode()

    bad = tester_client.post(reverse("generation:preset_rename", args=[mine.pk]), {"name": "  "})
    assert bad.status_code == 400 and "Give the preset a name." in bad.content.decode()

    tester_client.post(reverse("generation:preset_delete", args=[mine.pk]))
    assert not Preset.objects.exists()


# --- Privacy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["tester2", "red_teamer", "outsider", "admin_user"])
def test_a_persons_presets_are_private(client, request, mine, who):
    client.force_login(request.getfixturevalue(who))

    assert client.get(reverse("generation:job_create"), {"preset": mine.pk}).status_code in (403, 404)
    assert "Small and quick" not in client.get(reverse("generation:preset_list")).content.decode()
    assert client.post(reverse("generation:preset_rename", args=[mine.pk]), {"name": "Mine now"}).status_code == 404
    assert client.post(reverse("generation:preset_delete", args=[mine.pk])).status_code == 404
    mine.refresh_from_db()
    assert mine.name == "Small and quick"


def test_an_unknown_or_malformed_preset_is_a_404(tester_client):
    assert tester_client.get(reverse("generation:job_create"), {"preset": "999"}).status_code == 404
    assert tester_client.get(reverse("generation:job_create"), {"preset": "x"}).status_code == 404


# --- Programme presets ---------------------------------------------------------------------------


def test_members_see_and_use_programme_presets(client, tester, red_teamer, shared):
    for person in (tester, red_teamer):
        client.force_login(person)
        assert "House style" in client.get(reverse("generation:preset_list")).content.decode()
        assert _form(client, shared).context["form"].initial["num_frames"] == 161


def test_a_preset_beyond_the_grant_is_shown_and_the_form_still_refuses(client, red_teamer, shared):
    client.force_login(red_teamer)

    page = _form(client, shared)
    assert page.status_code == 200 and "Your grant allows at most 121 frames." in page.content.decode()

    response = client.post(
        reverse("generation:job_create"), {**FORM, "num_frames": "161", "width": "704", "height": "480"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["num_frames"] == ["Your grant allows at most 121 frames."]
    assert not RenderJob.objects.exists()


def test_people_outside_the_programme_do_not_see_its_presets(client, outsider, beta_member, shared):
    for person in (outsider, beta_member):
        client.force_login(person)
        assert "House style" not in client.get(reverse("generation:preset_list")).content.decode()
        assert _form(client, shared).status_code in (403, 404)


def test_members_cannot_change_programme_presets_through_their_own_pages(tester_client, shared):
    assert tester_client.post(reverse("generation:preset_rename", args=[shared.pk]), {"name": "x"}).status_code == 404
    assert tester_client.post(reverse("generation:preset_delete", args=[shared.pk])).status_code == 404
    assert Preset.objects.get().name == "House style"


def _manage(programme, name="presets", *args):
    return reverse(f"generation_manage:{name}", args=[programme.slug, *args])


def test_an_admin_manages_programme_presets_and_it_is_audited(client, admin_user, programme, shared):
    client.force_login(admin_user)
    assert "House style" in client.get(_manage(programme)).content.decode()

    data = {"name": "Portrait", **{key: "" if value is None else value for key, value in SETTINGS.items()}}
    assert client.post(_manage(programme), {**data, "width": "480", "height": "704"}).status_code == 302
    portrait = Preset.objects.get(name="Portrait")
    assert (portrait.programme, portrait.owner, portrait.width) == (programme, None, 480)

    client.post(_manage(programme, "preset_rename", shared.pk), {"name": "House"})
    client.post(_manage(programme, "preset_delete", portrait.pk))
    assert list(Preset.objects.values_list("name", flat=True)) == ["House"]
    actions = set(AuditEvent.objects.filter(action__startswith="generation.preset").values_list("action", flat=True))
    assert actions == {"generation.preset_created", "generation.preset_renamed", "generation.preset_deleted"}


def test_bad_programme_presets_are_refused(client, admin_user, programme, shared):
    client.force_login(admin_user)
    data = {"name": "House style", **{key: "" if value is None else value for key, value in SETTINGS.items()}}

    duplicate = client.post(_manage(programme), data)
    bad_frames = client.post(_manage(programme), {**data, "name": "Other", "num_frames": "24"})

    assert duplicate.status_code == 400 and "Alpha already has a preset called" in duplicate.content.decode()
    assert bad_frames.status_code == 400 and "8k+1" in bad_frames.content.decode()
    assert Preset.objects.count() == 1


@pytest.mark.parametrize("who", ["tester", "red_teamer", "reviewer", "outsider"])
def test_only_programme_admins_manage_programme_presets(client, request, programme, shared, who):
    person = request.getfixturevalue(who)
    with_totp(person)
    client.force_login(person)

    assert client.get(_manage(programme)).status_code == 404
    assert client.post(_manage(programme), {"name": "Mine", **SETTINGS, "seed": ""}).status_code == 404
    assert client.post(_manage(programme, "preset_rename", shared.pk), {"name": "x"}).status_code == 404
    assert client.post(_manage(programme, "preset_delete", shared.pk)).status_code == 404
    assert list(Preset.objects.values_list("name", flat=True)) == ["House style"]


def test_another_programmes_admin_cannot_manage_them(client, programme, shared):
    beta = programme_create(name="Beta")
    client.force_login(with_totp(member("beta-admin@example.org", programme=beta, role=Role.ADMIN)))

    assert client.get(_manage(programme)).status_code == 404
    assert client.post(_manage(beta, "preset_delete", shared.pk)).status_code == 404
    assert Preset.objects.exists()


# --- API -----------------------------------------------------------------------------------------


def test_the_api_lists_ones_own_and_the_programmes_presets(api, tester2, mine, shared):
    preset_create(name="Not yours", settings=SETTINGS, owner=tester2)

    body = api.get(PRESETS).json()

    listed = {item["name"]: item for item in body["results"]}
    assert set(listed) == {"Small and quick", "House style"}
    assert listed["House style"]["shared"] is True and listed["House style"]["programme"] == "alpha"
    assert listed["Small and quick"]["seed"] == 7 and listed["Small and quick"]["shared"] is False


def test_the_api_creates_and_deletes_ones_own_presets(api, tester):
    created = api.post(PRESETS, {"name": "From the API", **SETTINGS}, format="json")

    assert created.status_code == 201, created.json()
    preset = Preset.objects.get()
    assert (preset.owner, preset.name, created.json()["id"]) == (tester, "From the API", preset.pk)
    assert api.delete(f"{PRESETS}{preset.pk}/").status_code == 204
    assert not Preset.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"num_frames": 26}, "num_frames"),
        ({"model_key": "sora"}, "model_key"),
        ({"seed": -1}, "seed"),
        ({"width": "wide"}, "width"),
    ],
)
def test_bad_api_presets_are_a_400_and_save_nothing(api, change, field):
    response = api.post(PRESETS, {"name": "P", **SETTINGS, **change}, format="json")

    assert response.status_code == 400 and field in response.json()
    assert not Preset.objects.exists()


def test_the_api_will_not_delete_others_or_programme_presets(client, tester2, mine, shared):
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_authenticate(tester2)
    assert other.delete(f"{PRESETS}{mine.pk}/").status_code == 404
    assert other.get(f"{PRESETS}{mine.pk}/").status_code == 404
    response = other.delete(f"{PRESETS}{shared.pk}/")
    assert response.status_code == 403 and "admins manage it" in response.json()["detail"]
    assert Preset.objects.count() == 2


def test_api_tokens_need_the_generate_scope_to_change_presets(tester, mine):
    from rest_framework.test import APIClient

    _, reader = token_create(user=tester, name="reader", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")

    assert client.get(PRESETS).status_code == 200
    assert client.post(PRESETS, {"name": "x", **SETTINGS}, format="json").status_code == 403
    assert client.delete(f"{PRESETS}{mine.pk}/").status_code == 403
    assert Preset.objects.count() == 1


def test_the_api_needs_authentication(anon_api, mine):
    assert anon_api.get(PRESETS).status_code == 401
    assert anon_api.delete(f"{PRESETS}{mine.pk}/").status_code == 401


def test_renaming_a_preset_another_request_deleted_is_not_found(mine):
    """A rename racing a deletion of the same preset (another tab, or the API): 404, not a server error."""
    Preset.objects.filter(pk=mine.pk).delete()
    with pytest.raises(Http404):
        preset_rename(preset=mine, name="Renamed")
    assert not Preset.objects.exists()

"""The prompt policy: programme admins edit blocked phrases and patterns; every submission (form, API,
variations) is checked before a job is queued; a refused one queues nothing, charges nothing, is
recorded once for the red team, and tells the person why. Only admins edit the policy; only admins and
the programme's red teamers read the refusals."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from access.models import AuditEvent, LeakAlert, Role
from access.programmes import cohort_create, programme_create
from access.tokens import token_create
from generation.models import PromptRefusal, PromptRule, RenderJob
from generation.prompt_policy import prompt_check, prompt_rule_create, prompt_rule_update
from generation.quota import grant_usage
from tests.conftest import member, with_totp
from tests.generation.job_requests import PAGE_FORM as GOOD
from tests.generation.job_requests import SETTINGS

pytestmark = pytest.mark.django_db

REASON = "Weapons of mass harm are outside this programme's terms."
MESSAGE = f"Refused by the programme's prompt policy: {REASON}"
REFUSED = escape(MESSAGE)  # as the page shows it


@pytest.fixture
def bomb(programme, admin_user):
    return prompt_rule_create(programme=programme, kind="term", text="nuclear bomb", reason=REASON, actor=admin_user)


@pytest.fixture
def beta():
    """A second programme with its own admin, red teamer and rule."""
    programme = programme_create(name="Beta")
    team = cohort_create(programme=programme, name="Beta red team")
    with_totp(member("beta-admin@example.org", programme=programme, role=Role.ADMIN))
    member("beta-red@example.org", programme=programme, role=Role.RED_TEAMER, cohort=team)
    prompt_rule_create(programme=programme, kind="term", text="fox", reason="Beta does not do foxes.")
    return programme


def _refused(programme, prompt, negative=""):
    refusal = prompt_check(programme, prompt, negative)
    return refusal.matched_text if refusal else None


# --- What the policy refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "matched"),
    [
        ("a nuclear bomb over the sea", "nuclear bomb"),
        ("A NUCLEAR BOMB", "NUCLEAR BOMB"),
        ("nuclear    bomb", "nuclear    bomb"),
        ("nuclear\n\tbomb", "nuclear\n\tbomb"),
        ("nuclear-bomb!", "nuclear-bomb"),
        ("ｎｕｃｌｅａｒ ｂｏｍｂ", "ｎｕｃｌｅａｒ ｂｏｍｂ"),  # fullwidth
        ("nucl\u200bear bo\u00admb", "nucl\u200bear bo\u00admb"),  # zero-width space, soft hyphen
        ("núcléar bömb", "núcléar bömb"),
        ("nuclear bоmb", "nuclear bоmb"),  # a Cyrillic о
        ("nuclear b o m b", "nuclear b o m b"),
        ("n.u.c.l.e.a.r b.o.m.b", "n.u.c.l.e.a.r b.o.m.b"),
        ("#NuclearBomb", "NuclearBomb"),
        ("a n u c l e a r bomb", "n u c l e a r bomb"),
        ("a b-o-m-b nuclear b o m b", "nuclear b o m b"),
    ],
)
def test_a_blocked_phrase_is_refused_through_simple_evasions(programme, bomb, prompt, matched):
    assert _refused(programme, prompt) == matched


@pytest.mark.parametrize(
    "prompt", ["a nuclear power plant", "a bomb", "nuclear bombastic speeches", "unclear bomb", "nuclearbombs"]
)
def test_a_blocked_phrase_matches_whole_words_only(programme, bomb, prompt):
    assert prompt_check(programme, prompt) is None


def test_spaced_out_letters_are_joined_but_whole_words_are_not(programme):
    prompt_rule_create(programme=programme, kind="term", text="anal", reason="No.")

    assert _refused(programme, "a n a l close-up") == "a n a l"
    assert _refused(programme, "an Al Pacino close-up, a nal") is None


@pytest.mark.parametrize(
    ("term", "prompt", "matched"),
    [
        ("nuclear bomb", "a nucl3ar b0mb at dusk", "nucl3ar b0mb"),
        ("nuclear bomb", "NUCL34R B0MB", "NUCL34R B0MB"),
        ("kill", "k1ll him", "k1ll"),  # "1" read as "i"
        ("alcohol", "a bottle of a1coh0l", "a1coh0l"),  # and as "l"
        ("napalm", "n@palm over the trees", "n@palm"),
        ("shit", "sh!t happens", "sh!t"),
    ],
)
def test_leetspeak_inside_a_word_is_read_as_letters(programme, term, prompt, matched):
    prompt_rule_create(programme=programme, kind="term", text=term, reason="No.")

    assert _refused(programme, prompt) == matched


@pytest.mark.parametrize(
    ("term", "prompt"),
    [("lol", "101 dalmatians in the snow"), ("ak", "4k footage of a river"), ("iosop", "a 1080p clip, shot in 1999")],
)
def test_numbers_and_numbers_with_units_are_not_read_as_letters(programme, term, prompt):
    prompt_rule_create(programme=programme, kind="term", text=term, reason="No.")

    assert prompt_check(programme, prompt) is None


def test_a_pattern_is_matched_ignoring_case_and_spacing(programme, admin_user):
    prompt_rule_create(programme=programme, kind="pattern", text=r"\bkill(ing|ed)? (him|her)\b", reason="No.")

    assert _refused(programme, "then KILLING   Her slowly") == "KILLING   Her"
    assert _refused(programme, "skilled hermit") is None


def test_the_negative_prompt_is_checked_too(programme, bomb):
    refusal = prompt_check(programme, "a quiet lake", "nuclear bomb")
    assert refusal.field == "negative_prompt" and refusal.message.endswith(REASON)


def test_disabled_rules_and_other_programmes_rules_do_not_refuse(programme, admin_user, bomb, beta):
    prompt_rule_update(rule=bomb, enabled=False, actor=admin_user)

    assert prompt_check(programme, "nuclear bomb") is None
    assert prompt_check(programme, "a fox") is None  # Beta's rule
    assert prompt_check(beta, "a fox").rule.reason == "Beta does not do foxes."


def test_a_pattern_that_runs_out_of_time_refuses(programme):
    """A slow pattern that got past validation (here written straight to the table) fails closed."""
    PromptRule.objects.create(programme=programme, kind="pattern", text=r"(a|aa)+$", reason="Slow rule.")

    refusal = prompt_check(programme, "a" * 40 + "!")

    assert refusal is not None and refusal.matched_text == ""


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("pattern", "(unclosed", "not a valid regular expression"),
        ("pattern", "[z-a]", "not a valid regular expression"),
        ("pattern", r"(a|aa)+$", "takes too long"),
        ("pattern", r"(\w|\w\w)+$", "takes too long"),
        ("pattern", "x" * 201, "limited to 200 characters"),
        ("pattern", "a*", "matches an empty prompt"),
        ("term", "!!!", "at least one letter or digit"),
        ("term", "   ", "Write the word"),
        ("sometimes", "x", "Choose a blocked word"),
    ],
)
def test_bad_rules_are_refused(programme, kind, text, message):
    with pytest.raises(ValidationError) as refused:
        prompt_rule_create(programme=programme, kind=kind, text=text, reason="Because.")

    assert message in " ".join(sum(refused.value.message_dict.values(), []))
    assert not PromptRule.objects.exists()


# --- Submitting a refused prompt -----------------------------------------------------------------


def _nothing_queued_or_charged(person):
    assert not RenderJob.objects.exists()
    usage = grant_usage(person.grants.get())
    assert usage == {"seconds_total": 0, "seconds_today": 0, "seconds_reserved": 0, "active_jobs": 0}


def test_a_refused_form_submission_says_why_and_is_recorded_once(tester_client, tester, programme, bomb):
    response = tester_client.post(
        reverse("generation:job_create"), {**GOOD, "prompt": "A Nuclear  Bomb at dawn", "negative_prompt": "blur"}
    )

    assert response.status_code == 400
    assert REFUSED in response.content.decode()
    assert response.context["form"].errors["prompt"] == [MESSAGE]
    _nothing_queued_or_charged(tester)
    refusal = PromptRefusal.objects.get()
    assert (refusal.user, refusal.programme, refusal.rule, refusal.via) == (tester, programme, bomb, "web")
    assert (refusal.prompt, refusal.negative_prompt, refusal.model_key) == (
        "A Nuclear  Bomb at dawn",
        "blur",
        "ltx-video",
    )
    assert (refusal.matched_text, refusal.field, refusal.rule_text, refusal.reason) == (
        "Nuclear  Bomb",
        "prompt",
        "nuclear bomb",
        REASON,
    )


def test_refused_variations_are_recorded_once_and_queue_none(tester_client, tester, bomb):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "prompt": "nuclear bomb", "variations": 4})

    assert response.status_code == 400 and REFUSED in response.content.decode()
    _nothing_queued_or_charged(tester)
    assert PromptRefusal.objects.count() == 1


def test_a_refused_api_submission_is_a_400_on_the_prompt(api, tester, bomb):
    body = {**GOOD, "prompt": "ｎｕｃｌｅａｒ ｂｏｍｂ", "seed": None}

    response = api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 400
    assert response.json() == {"prompt": [MESSAGE]}
    _nothing_queued_or_charged(tester)
    refusal = PromptRefusal.objects.get()
    assert (refusal.via, refusal.matched_text) == ("api", "ｎｕｃｌｅａｒ ｂｏｍｂ")


def test_a_refusal_in_the_negative_prompt_names_that_field(api, tester, bomb):
    response = api.post("/api/v1/jobs/", {**GOOD, "seed": None, "negative_prompt": "nuclear bomb"}, format="json")

    assert response.status_code == 400 and list(response.json()) == ["negative_prompt"]
    assert PromptRefusal.objects.get().field == "negative_prompt"


def test_an_allowed_prompt_is_queued_as_before(tester_client, bomb):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "prompt": "a nuclear power plant"})

    assert response.status_code == 302 and RenderJob.objects.count() == 1
    assert not PromptRefusal.objects.exists()


def test_a_refused_prompt_holding_a_token_still_suspends_the_token(tester_client, tester2, bomb):
    record, secret = token_create(user=tester2, name="laptop", scopes=["read"])

    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "prompt": f"nuclear bomb {secret}"})

    assert response.status_code == 400 and PromptRefusal.objects.count() == 1
    assert LeakAlert.objects.get().token == record


def test_refusals_are_append_only(tester, programme, bomb):
    refusal = PromptRefusal.objects.create(
        user=tester,
        programme=programme,
        prompt="p",
        model_key="ltx-video",
        rule=bomb,
        rule_text=bomb.text,
        reason=bomb.reason,
        field="prompt",
        via="web",
    )

    for attempt in (refusal.save, refusal.delete, PromptRefusal.objects.all().delete):
        with pytest.raises(ValidationError):
            attempt()
    with pytest.raises(ValidationError):
        PromptRefusal.objects.update(prompt="changed")
    assert PromptRefusal.objects.get().prompt == "p"


# --- Editing the policy --------------------------------------------------------------------------


def _policy(programme):
    return reverse("generation_manage:prompt_policy", args=[programme.slug])


def test_an_admin_adds_a_rule_and_it_is_audited(admin_client, admin_user, programme):
    data = {"kind": "term", "text": "  Nuclear Bomb ", "reason": REASON, "enabled": "on"}

    response = admin_client.post(_policy(programme), data)

    assert response.status_code == 302
    rule = PromptRule.objects.get()
    assert (rule.programme, rule.text, rule.enabled, rule.created_by) == (programme, "Nuclear Bomb", True, admin_user)
    event = AuditEvent.objects.get(action="generation.prompt_rule_created")
    assert (event.actor, event.programme, event.data["rule"]["text"]) == (admin_user, programme, "Nuclear Bomb")
    assert "Nuclear Bomb" in admin_client.get(_policy(programme)).content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "pattern", "text": "(unclosed"}, "text", "not a valid regular expression"),
        ({"kind": "pattern", "text": "(x|xx)+$"}, "text", "takes too long"),
        ({"kind": "term", "text": "bomb", "reason": ""}, "reason", "required"),
        ({"kind": "other", "text": "bomb"}, "kind", "Select a valid choice"),
    ],
)
def test_a_bad_rule_is_a_form_error_and_changes_nothing(admin_client, programme, data, field, message):
    response = admin_client.post(_policy(programme), {"reason": "Because.", **data})

    assert response.status_code == 400
    assert message in response.context["form"].errors[field][0]
    assert not PromptRule.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="generation.prompt_rule").exists()


def test_a_duplicate_rule_is_refused(admin_client, programme, bomb):
    response = admin_client.post(_policy(programme), {"kind": "term", "text": "nuclear bomb", "reason": "Again."})

    assert response.status_code == 400 and "already has this rule" in response.content.decode()
    assert PromptRule.objects.count() == 1


def test_editing_disabling_and_deleting_rules_are_audited(admin_client, admin_user, programme, bomb):
    edit = reverse("generation_manage:prompt_rule", args=[programme.slug, bomb.pk])
    assert admin_client.get(edit).status_code == 200

    admin_client.post(edit, {"kind": "term", "text": "dirty bomb", "reason": REASON, "enabled": "on"})
    admin_client.post(reverse("generation_manage:prompt_rule_toggle", args=[programme.slug, bomb.pk]))
    bomb.refresh_from_db()
    assert (bomb.text, bomb.enabled) == ("dirty bomb", False)
    changes = [event.data["changes"] for event in AuditEvent.objects.filter(action="generation.prompt_rule_changed")]
    assert {"enabled": {"from": True, "to": False}} in changes
    assert {"text": {"from": "nuclear bomb", "to": "dirty bomb"}} in changes

    admin_client.post(reverse("generation_manage:prompt_rule_delete", args=[programme.slug, bomb.pk]))
    assert not PromptRule.objects.exists()
    assert AuditEvent.objects.get(action="generation.prompt_rule_deleted").actor == admin_user


def test_a_rule_that_refused_prompts_is_kept(admin_client, programme, bomb, refusals):

    response = admin_client.post(reverse("generation_manage:prompt_rule_delete", args=[programme.slug, bomb.pk]))

    assert response.status_code == 400 and "Disable it instead" in response.content.decode()
    assert PromptRule.objects.filter(pk=bomb.pk).exists()


def test_the_test_box_shows_what_matches_and_records_nothing(admin_client, programme, bomb):
    url = reverse("generation_manage:prompt_policy_test", args=[programme.slug])

    refused = admin_client.post(url, {"prompt": "a NUCLEAR   bomb", "negative_prompt": ""}).content.decode()
    passed = admin_client.post(url, {"prompt": "a quiet lake", "negative_prompt": ""}).content.decode()

    assert "matching “NUCLEAR   bomb”" in refused and REFUSED in refused
    assert "passes every enabled rule" in passed
    assert not PromptRefusal.objects.exists()


def test_the_programme_page_links_to_the_policy_and_refusals(admin_client, programme):
    html = admin_client.get(reverse("access_manage:programme", args=[programme.slug])).content.decode()
    assert _policy(programme) in html
    assert reverse("generation_manage:refusals", args=[programme.slug]) in html


@pytest.mark.parametrize("who", ["tester", "tester2", "red_teamer", "reviewer", "outsider"])
def test_only_programme_admins_see_or_change_the_policy(client, request, programme, bomb, who):
    person = request.getfixturevalue(who)
    with_totp(person)
    client.force_login(person)
    slug = programme.slug

    assert client.get(_policy(programme)).status_code == 404
    assert client.get(reverse("generation_manage:prompt_rule", args=[slug, bomb.pk])).status_code == 404
    for url, data in [
        (_policy(programme), {"kind": "term", "text": "x", "reason": "x"}),
        (reverse("generation_manage:prompt_rule", args=[slug, bomb.pk]), {"kind": "term", "text": "y", "reason": "y"}),
        (reverse("generation_manage:prompt_rule_toggle", args=[slug, bomb.pk]), {}),
        (reverse("generation_manage:prompt_rule_delete", args=[slug, bomb.pk]), {}),
        (reverse("generation_manage:prompt_policy_test", args=[slug]), {"prompt": "nuclear bomb"}),
    ]:
        assert client.post(url, data).status_code == 404, url
    bomb.refresh_from_db()
    assert (PromptRule.objects.count(), bomb.text, bomb.enabled) == (1, "nuclear bomb", True)


def test_another_programmes_admin_cannot_touch_the_policy(client, programme, bomb, beta):
    client.force_login(beta.memberships.get(role=Role.ADMIN).user)

    assert client.get(_policy(programme)).status_code == 404
    toggle = reverse("generation_manage:prompt_rule_toggle", args=[programme.slug, bomb.pk])
    assert client.post(toggle).status_code == 404
    # nor reach Alpha's rule through Beta's pages
    assert client.post(reverse("generation_manage:prompt_rule_toggle", args=[beta.slug, bomb.pk])).status_code == 404
    bomb.refresh_from_db()
    assert bomb.enabled


def test_anonymous_visitors_are_sent_to_sign_in(client, programme):
    for url in [_policy(programme), reverse("generation_manage:refusals", args=[programme.slug])]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Reading refusals ----------------------------------------------------------------------------


@pytest.fixture
def refusals(tester, tester2, programme, bomb):
    """Two refusals of tester (one per rule) and one of tester2."""
    from generation.submission import job_create

    gore = prompt_rule_create(programme=programme, kind="pattern", text=r"\bgore\w*", reason="No gore.")
    for person, prompt in [(tester, "nuclear bomb one"), (tester, "gorefest two"), (tester2, "nuclear bomb three")]:
        with pytest.raises(ValidationError):
            job_create(owner=person, prompt=prompt, **SETTINGS)
    return bomb, gore


def _refusals_page(client, programme, **query):
    return client.get(reverse("generation_manage:refusals", args=[programme.slug]), query)


@pytest.mark.parametrize("who", ["admin_user", "red_teamer"])
def test_admins_and_the_red_team_read_the_refusals(client, request, programme, refusals, who):
    client.force_login(request.getfixturevalue(who))

    response = _refusals_page(client, programme)

    assert response.status_code == 200
    html = response.content.decode()
    assert "nuclear bomb one" in html and "gorefest two" in html and "nuclear bomb three" in html
    assert "tester2@example.org" in html and "“gorefest”" in html


def test_refusals_filter_by_rule_and_person(admin_client, programme, tester, refusals):
    bomb, gore = refusals

    by_rule = _refusals_page(admin_client, programme, rule=gore.pk).content.decode()
    by_person = _refusals_page(admin_client, programme, user=tester.pk).content.decode()
    both = _refusals_page(admin_client, programme, user=tester.pk, rule=bomb.pk).content.decode()

    assert "gorefest two" in by_rule and "nuclear bomb one" not in by_rule and "three" not in by_rule
    assert "three" not in by_person and "one" in by_person and "two" in by_person
    assert "nuclear bomb one" in both and "two" not in both and "three" not in both
    assert _refusals_page(admin_client, programme, rule="nonsense").status_code == 400


@pytest.mark.parametrize("who", ["tester", "tester2", "reviewer", "outsider"])
def test_nobody_else_reads_the_refusals(client, request, programme, refusals, who):
    person = request.getfixturevalue(who)
    with_totp(person)
    client.force_login(person)

    assert _refusals_page(client, programme).status_code == 404


def test_another_programmes_admin_and_red_team_do_not_read_them(client, programme, refusals, beta):
    for role in (Role.ADMIN, Role.RED_TEAMER):
        client.force_login(beta.memberships.get(role=role).user)
        assert _refusals_page(client, programme).status_code == 404


def test_red_teamers_find_the_refusals_from_their_clips(client, red_teamer, tester, programme):
    refusals_url = reverse("generation_manage:refusals", args=[programme.slug])
    client.force_login(red_teamer)
    assert refusals_url in client.get(reverse("generation:job_list")).content.decode()
    client.force_login(tester)
    assert refusals_url not in client.get(reverse("generation:job_list")).content.decode()


def test_refusals_are_not_in_the_api(api, tester, refusals):
    assert api.get("/api/v1/refusals/").status_code == 404
    assert "refusal" not in api.get("/api/v1/").content.decode()

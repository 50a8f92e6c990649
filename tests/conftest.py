"""The standing cast and shared fixtures. Every test that shows a page or an endpoint also shows
that the wrong person is refused; `tester` owns things, `tester2` and `outsider` must not see them."""

import fcntl
import time

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from access.models import Role
from access.programmes import cohort_create, membership_add, programme_create
from generation.registry import model_get
from tests.factories import PASSWORD, UserFactory


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


def settings_for_tests(media_root, storages) -> dict:
    """What every test runs under; also applied by module-scoped worlds built before a test's own settings."""
    return {
        "MEDIA_ROOT": media_root,
        "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
        # In-process renders finish before job_render returns (the test's transaction is invisible to the
        # post-processing thread's own connection); the real workers in tests/e2e use the thread.
        "BACKLOT_POSTPROCESS_INLINE": True,
        "STORAGES": {**storages, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}},
    }


@pytest.fixture(autouse=True)
def _test_settings(settings, media_root):
    from django.core.cache import cache

    cache.clear()  # throttles and rate limits start from zero in every test
    for name, value in settings_for_tests(media_root, settings.STORAGES).items():
        setattr(settings, name, value)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases, kept between runs (``--reuse-db``: migrating a fresh one costs each process
    about 6 s) and emptied at the start, so a run cut off mid-test leaves nothing behind for the next one."""
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def c2pa_dev_ca(tmp_path_factory) -> dict:
    """A development CA and signing certificate, made by the same function as `manage.py credentials_dev_ca`."""
    from generation.credentials import dev_ca_create

    return dev_ca_create(tmp_path_factory.mktemp("c2pa"))


def c2pa_environment(dev_ca: dict) -> dict[str, str]:
    """The settings that sign clips with ``dev_ca`` and trust its root, as environment variables."""
    return {
        "BACKLOT_C2PA_CERT_CHAIN": str(dev_ca["chain"]),
        "BACKLOT_C2PA_KEY": str(dev_ca["key"]),
        "BACKLOT_C2PA_TRUST_ANCHORS": str(dev_ca["anchor"]),
    }


@pytest.fixture
def c2pa_signing(c2pa_dev_ca, settings) -> dict:
    """Clips are signed with the development CA, and the trace trusts it."""
    for name, value in c2pa_environment(c2pa_dev_ca).items():
        setattr(settings, name, value)
    return c2pa_dev_ca


_force_login_only = Client.force_login


def session_without_second_factor(client, user):
    """A session made by Django's login alone, as any door other than allauth's sign-in would make it."""
    _force_login_only(client, user)
    return client


def _force_login_complete(self, user, backend=None):
    """``force_login`` stands for a complete sign-in: for someone with an authenticator, the session carries
    allauth's records of the password and the second step, as its sign-in flow leaves them."""
    from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
    from allauth.mfa.models import Authenticator

    _force_login_only(self, user, backend)
    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is not None:
        session = self.session
        session[AUTHENTICATION_METHODS_SESSION_KEY] = [
            {"method": "password", "at": time.time(), "email": user.email},
            {"method": "mfa", "at": time.time(), "id": authenticator.pk, "type": "totp"},
        ]
        session["account_authentication_methods_user"] = str(user.pk)
        session.save()


@pytest.fixture(autouse=True)
def _complete_sign_in(monkeypatch):
    monkeypatch.setattr(Client, "force_login", _force_login_complete)


@pytest.fixture(scope="session")
def smoke_model(django_db_blocker):
    """The LTX smoke build, made once in BACKLOT_MODELS_DIR if it is missing (by one process when pytest-xdist
    runs several)."""
    from django.conf import settings

    spec = model_get("ltx-video")
    settings.BACKLOT_MODELS_DIR.mkdir(parents=True, exist_ok=True)
    with open(settings.BACKLOT_MODELS_DIR / ".smoke-build.lock", "w") as lock, django_db_blocker.unblock():
        fcntl.flock(lock, fcntl.LOCK_EX)
        call_command("smoke_build", "ltx-video", "--if-missing", verbosity=0)
    return spec


@pytest.fixture
def password():
    return PASSWORD


# The standing cast as plain functions too, for worlds built once per module (tests/test_access_matrix.py).
def standing_programme():
    return programme_create(name="Alpha")


def standing_cohort(programme):
    return cohort_create(
        programme=programme,
        name="Wave 1",
        max_frames=257,
        max_width=1280,
        max_height=1280,
        max_steps=100,
        gpu_seconds_per_day=100_000,
        gpu_seconds_total=1_000_000,
        max_queued_jobs=10,
    )


def standing_red_team(programme):
    return cohort_create(programme=programme, name="Red team", max_queued_jobs=10)


def member(email, *, programme, role, cohort=None, **fields):
    user = UserFactory(email=email, **fields)
    membership_add(user=user, programme=programme, role=role, cohort=cohort)
    return user


def standing_tester(cohort):
    return member(
        "tester@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort, display_name="Tess Tester"
    )


def standing_tester2(cohort):
    return member("tester2@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)


def standing_red_teamer(red_team):
    return member("redteam@example.org", programme=red_team.programme, role=Role.RED_TEAMER, cohort=red_team)


def standing_reviewer(programme):
    return with_totp(member("reviewer@example.org", programme=programme, role=Role.REVIEWER))


def standing_outsider():
    return UserFactory(email="outsider@example.org")


@pytest.fixture
def programme(db):
    return standing_programme()


@pytest.fixture
def cohort(programme):
    return standing_cohort(programme)


@pytest.fixture
def red_team(programme):
    return standing_red_team(programme)


@pytest.fixture
def tester(cohort):
    """An artist in Wave 1 with a roomy grant."""
    return standing_tester(cohort)


@pytest.fixture
def tester2(cohort):
    return standing_tester2(cohort)


@pytest.fixture
def red_teamer(red_team):
    return standing_red_teamer(red_team)


@pytest.fixture
def reviewer(programme):
    """Reviewers watch unreleased films: like all staff, they have two-factor set up."""
    return standing_reviewer(programme)


def with_totp(user):
    """Staff pages need two-factor authentication set up; give ``user`` an authenticator (a real one that
    takes codes: tests/access/test_sign_in_doors.py)."""
    from allauth.mfa.models import Authenticator

    Authenticator.objects.get_or_create(
        user=user, type=Authenticator.Type.TOTP, defaults={"data": {"secret": "test-secret"}}
    )
    return user


@pytest.fixture
def admin_user(programme):
    return with_totp(member("admin@example.org", programme=programme, role=Role.ADMIN, is_staff=True))


@pytest.fixture
def outsider(db):
    """Signed up somehow, but in no programme and with no grant."""
    return standing_outsider()


@pytest.fixture
def tester_client(client, tester):
    client.force_login(tester)
    return client


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def api(tester):
    api_client = APIClient(enforce_csrf_checks=False)
    api_client.force_authenticate(tester)
    return api_client


@pytest.fixture
def anon_api():
    return APIClient()


def pytest_report_header(config):
    from django.conf import settings

    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
    return f"backlot: database={database} broker={broker}"


# The heavy tests, marked `slow`: the mark's attack matrix, renders through every model's smoke build, and the API
# fuzzer (schemathesis's generated requests against every operation, about 30 s of a process). `make test` and CI
# run them; `make test-fast` leaves them out for a quick loop while one works (module path -> test names, or None
# for the whole module).
SLOW = {
    "tests/generation/test_watermark_attacks.py": None,
    "tests/test_api_fuzz.py": None,
    "tests/generation/test_models.py": {
        "test_the_same_seed_gives_the_same_frames",
        "test_a_job_renders_to_a_playable_mp4_of_the_size_asked",
    },
    "tests/generation/test_pyramid_flow.py": {
        "test_progress_counts_every_step_of_every_stage_of_every_frame",
        "test_image_to_video_starts_from_the_image_and_counts_only_the_frames_it_generates",
        "test_a_stop_at_a_step_aborts_before_decoding_and_leaves_the_pipeline_reusable",
    },
    "tests/generation/test_watermark.py": {"test_random_noise_clips_never_give_a_false_hit"},
    "tests/generation/test_modes.py": {
        "test_cogvideox_5b_renders_image_to_video_with_its_i2v_transformer",
        "test_restyle_renders_a_cogvideox_clip_again_with_a_strength",
    },
    "tests/competition/test_films.py": {
        "test_both_clips_of_a_film_cut_from_two_renders_are_found",
        "test_a_film_with_an_unlisted_clip_of_ones_own_needs_the_list_changed",
        "test_a_film_with_someone_elses_clip_is_refused",
        "test_a_film_cut_from_clips_that_went_through_an_attack_chain_still_finds_them",
    },
}


def pytest_collection_modifyitems(config, items):
    seen = {}
    for item in items:
        path, _, name = item.nodeid.partition("::")
        name = name.split("[", 1)[0]
        seen.setdefault(path, set()).add(name)
        if path in SLOW and (SLOW[path] is None or name in SLOW[path]):
            item.add_marker(pytest.mark.slow)
    # A renamed test must not drop out of the list silently, and so into the quick loop.
    missing = [
        f"{path}::{name}" for path, names in SLOW.items() if path in seen for name in (names or set()) - seen[path]
    ]
    if missing and not config.option.keyword and not any("::" in arg for arg in config.args):
        raise pytest.UsageError(f"tests/conftest.py SLOW names tests that do not exist: {missing}")

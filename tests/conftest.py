"""The standing cast and shared fixtures. Every test that shows a page or an endpoint also shows
that the wrong person is refused; `tester` owns things, `tester2` and `outsider` must not see them."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from generation.registry import model_get
from tests.factories import PASSWORD, UserFactory


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _test_settings(settings, media_root):
    settings.MEDIA_ROOT = media_root
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def smoke_model(django_db_blocker):
    """The LTX smoke build, made once in BACKLOT_MODELS_DIR if it is missing."""
    spec = model_get("ltx-video")
    with django_db_blocker.unblock():
        call_command("smoke_build", "ltx-video", "--if-missing", verbosity=0)
    return spec


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def tester(db):
    return UserFactory(email="tester@example.org", display_name="Tess Tester")


@pytest.fixture
def tester2(db):
    return UserFactory(email="tester2@example.org")


@pytest.fixture
def reviewer(db):
    return UserFactory(email="reviewer@example.org")


@pytest.fixture
def admin_user(db):
    return UserFactory(email="admin@example.org", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(db):
    return UserFactory(email="outsider@example.org")


@pytest.fixture
def tester_client(client, tester):
    client.force_login(tester)
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

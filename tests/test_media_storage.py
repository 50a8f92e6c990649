"""Where media is kept: the local folder by default, an S3-compatible bucket through django-storages
with MEDIA_STORAGE=s3, or a storage class named by its path."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOW = (
    "import json, django; django.setup(); from django.conf import settings; "
    "from django.core.files.storage import storages; s = storages['default']; "
    "print(json.dumps({'storages': settings.STORAGES['default'], 'class': type(s).__name__, "
    "'bucket': getattr(s, 'bucket_name', None), 'endpoint': getattr(s, 'endpoint_url', None), "
    "'location': getattr(s, 'location', None)}))"
)


def _settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIA_STORAGE"))}
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
    )
    return result


def test_media_is_kept_in_the_local_folder_by_default():
    result = _settings()
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["storages"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert shown["class"] == "FileSystemStorage"


def test_s3_settings_give_a_private_bucket_on_the_configured_endpoint():
    result = _settings(
        MEDIA_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="backlot-media",
        AWS_S3_ENDPOINT_URL="https://minio.internal:9000",
        AWS_S3_REGION_NAME="eu-west-1",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-a-real-secret",
        AWS_S3_ADDRESSING_STYLE="path",
        AWS_LOCATION="clips",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["storages"] == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "backlot-media",
            "access_key": "AKIAEXAMPLE",
            "secret_key": "not-a-real-secret",
            "endpoint_url": "https://minio.internal:9000",
            "region_name": "eu-west-1",
            "addressing_style": "path",
            "location": "clips",
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    assert (shown["class"], shown["bucket"], shown["endpoint"], shown["location"]) == (
        "S3Storage",
        "backlot-media",
        "https://minio.internal:9000",
        "clips",
    )


def test_s3_without_a_bucket_is_a_clear_error():
    result = _settings(MEDIA_STORAGE="s3")
    assert result.returncode != 0 and "MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME" in result.stderr


def test_an_unknown_media_storage_is_a_clear_error():
    result = _settings(MEDIA_STORAGE="floppy")
    assert result.returncode != 0 and "MEDIA_STORAGE must be local, s3" in result.stderr


def test_a_storage_class_can_be_named_by_its_path():
    result = _settings(MEDIA_STORAGE="tests.full_disk.FullDiskStorage")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["class"] == "FullDiskStorage"

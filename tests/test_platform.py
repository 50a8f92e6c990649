"""The deployment files stay in step with the code: every variable the code reads is declared once
(config/settings_spec.py), and the configuration reference and the environment template generated from the
declarations are neither stale nor missing a variable."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import settings_docs
from config.env import env
from config.settings_spec import BY_NAME, SETTINGS, TYPES, Computed

ROOT = Path(__file__).resolve().parents[1]
READS = re.compile(
    r"""\benv(?:str|bool|int|float|list|map)?\("([A-Z0-9_]+)\"|os\.environ\.get\("([A-Z0-9_]+)\"|os\.environ\[\"([A-Z0-9_]+)\"\]"""
)


def _variables_read(*paths: str) -> set[str]:
    names = set()
    for path in paths or ("config/settings.py", "platform/gunicorn.conf.py"):
        names |= {name for match in READS.findall((ROOT / path).read_text()) for name in match if name}
    return names


def test_every_variable_the_code_reads_is_declared_and_every_declaration_is_read():
    read = _variables_read()
    assert len(read) > 30
    assert read - set(BY_NAME) == set()
    assert set(BY_NAME) - read == set()
    for setting in SETTINGS:
        assert setting.name in _variables_read(setting.read_by), f"{setting.name} is not read by {setting.read_by}"


def test_each_declaration_is_complete():
    assert len(BY_NAME) == len(SETTINGS), "a variable is declared twice"
    for setting in SETTINGS:
        assert setting.type in TYPES, setting.name
        assert setting.help.strip().endswith("."), setting.name
        assert setting.group in {group.key for group in settings_docs.GROUPS}, setting.name


def test_settings_read_only_declared_variables_with_their_declared_defaults(monkeypatch):
    monkeypatch.delenv("LEAK_BURST_FACTOR", raising=False)
    assert env("LEAK_BURST_FACTOR") == 10.0
    monkeypatch.setenv("LEAK_BURST_FACTOR", "4")
    assert env("LEAK_BURST_FACTOR") == 4.0
    with pytest.raises(ImproperlyConfigured, match="NOT_A_SETTING is not declared"):
        env("NOT_A_SETTING")
    with pytest.raises(ImproperlyConfigured, match="declared in config/settings_spec.py, not at the call"):
        env("LEAK_BURST_FACTOR", default=3.0)
    assert isinstance(BY_NAME["CELERY_VISIBILITY_TIMEOUT"].default, Computed)
    with pytest.raises(ImproperlyConfigured, match="computed"):
        env("CELERY_VISIBILITY_TIMEOUT")


def test_the_generated_reference_and_template_are_up_to_date():
    assert settings_docs.stale() == [], "run: python -m config.settings_docs --write"


def test_a_stale_generated_file_is_found(tmp_path, monkeypatch):
    stale = tmp_path / "backlot.env.example"
    stale.write_text(settings_docs.template().replace("LEAK_WINDOW_MINUTES=60", "LEAK_WINDOW_MINUTES=30"))
    monkeypatch.setattr(settings_docs, "TEMPLATE", stale)
    assert settings_docs.stale() == [stale]
    assert settings_docs.main(["--check"]) == 1


def test_the_environment_template_lists_every_variable():
    template = (ROOT / "platform" / "backlot.env.example").read_text()
    listed = set(re.findall(r"^([A-Z0-9_]+)=", template, re.MULTILINE))
    read = _variables_read()
    assert len(read) > 30
    assert read - listed == set()


def test_the_configuration_reference_documents_every_variable():
    reference = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    missing = {name for name in _variables_read() if f"`{name}`" not in reference}
    assert missing == set()


def test_platform_is_not_a_python_package():
    # A package named platform at the root would shadow the standard library's platform module.
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_the_readme_is_a_front_door_whose_links_lead_into_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_000
    assert "make run" in readme and "make test" in readme
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(links) > 10
    assert [link for link in links if not (ROOT / link).is_file()] == []

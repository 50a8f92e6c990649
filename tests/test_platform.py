"""The deployment files stay in step with the code: every variable the code reads is documented."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READS = re.compile(r"""env(?:str|bool|int|float|list|map)\("([A-Z0-9_]+)\"|os\.environ\.get\("([A-Z0-9_]+)\"""")


def _variables_read():
    names = set()
    for path in [ROOT / "config" / "settings.py", ROOT / "platform" / "gunicorn.conf.py"]:
        names |= {a or b for a, b in READS.findall(path.read_text())}
    return names


def test_the_environment_template_lists_every_variable():
    template = (ROOT / "platform" / "backlot.env.example").read_text()
    listed = set(re.findall(r"^([A-Z0-9_]+)=", template, re.MULTILINE))
    read = _variables_read()
    assert len(read) > 30
    assert read - listed == set()


def test_the_readme_documents_every_variable():
    readme = (ROOT / "README.md").read_text()
    missing = {name for name in _variables_read() if f"`{name}`" not in readme}
    assert missing == set()


def test_platform_is_not_a_python_package():
    # A package named platform at the root would shadow the standard library's platform module.
    assert not (ROOT / "platform" / "__init__.py").exists()

"""The README and .env.example stay in step with the code."""
import re
from pathlib import Path

from zendesk.webhook import TRIGGER_TEMPLATE

ROOT = Path(__file__).resolve().parent.parent


def test_readme_shows_the_trigger_template_the_parser_reads():
    assert TRIGGER_TEMPLATE in (ROOT / "README.md").read_text()


def test_every_environment_variable_the_code_reads_is_documented():
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    sources = [p for d in ("app.py", "zendesk", "jira") for p in (ROOT.glob(f"{d}/*.py") if "." not in d else [ROOT / d])]
    read = set()
    for path in sources:
        read |= set(re.findall(r"""["']((?:SLACLOCK|ZENDESK|JIRA)_[A-Z0-9_]+)["']""", path.read_text()))
    assert read - documented == set()

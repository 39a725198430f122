"""Documentation stays true: every setting is documented; the README starts with the two commands."""

from pathlib import Path

from cleanheat.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`CLEANHEAT_{name.upper()}`" in doc, f"document CLEANHEAT_{name.upper()} in docs/settings.md"
        assert field.description, f"setting {name} needs a description"


def test_readme_first_commands_are_make_run_and_make_test():
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()]
    commands = [ln.split("#")[0].strip() for ln in lines if ln.startswith("make ")]
    assert commands[:2] == ["make run", "make test"]


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()

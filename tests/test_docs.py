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


MODULE_DOCS = ("emissions.md", "network.md", "planner.md")


def test_module_docs_cite_files_of_this_repository():
    """Sources in docs/emissions.md, network.md and planner.md are files a reader of the repository has."""
    import re

    pattern = re.compile(r"`((?:data|bench|tests|docs|network/data)/[\w./-]+\.(?:yaml|py|md|csv|geojson))`")
    for name in MODULE_DOCS:
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert "DOMAIN" not in text, f"docs/{name} cites DOMAIN.md, which is not in the repository"
        for path in pattern.findall(text):
            where = ROOT / "src" / "cleanheat" / path if path.startswith("network/data/") else ROOT / path
            assert where.exists(), f"docs/{name} cites {path}, which does not exist"


def test_emissions_doc_parse_example_is_a_real_packet():
    import re

    from cleanheat.emissions.hj212.codec import parse_frame

    text = (ROOT / "docs" / "emissions.md").read_text(encoding="utf-8")
    [packet] = re.findall(r"cleanheat emissions parse '([^']+)'", text)
    p = parse_frame(packet.encode() + b"\r\n")
    assert p.cn == "1062" and p.crc_ok

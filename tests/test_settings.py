"""Settings defaults and what the CLI does when the database is missing."""

from typer.testing import CliRunner

from cleanheat.cli.main import app
from cleanheat.config import Settings

runner = CliRunner()


def test_the_sqlite_database_lives_in_var_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("CLEANHEAT_DATABASE_URL", raising=False)
    assert Settings(var_dir=tmp_path / "v").database_url == f"sqlite:///{(tmp_path / 'v').as_posix()}/cleanheat.db"
    assert Settings(var_dir=tmp_path, database_url="postgresql://x/y").database_url == "postgresql://x/y"


def test_a_command_outside_the_checkout_stops_clearly_and_creates_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("CLEANHEAT_DATABASE_URL", raising=False)
    monkeypatch.delenv("CLEANHEAT_VAR_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["programme", "evaluate", "--year", "2020"])
    assert r.exit_code == 1
    assert "database not found" in r.output and "cleanheat init" in r.output
    assert not (tmp_path / "var" / "cleanheat.db").exists()

"""The CLI end to end on SQLite: init, twin run (with a fault), stats, tokens, backfill, jobs, export/import."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from typer.testing import CliRunner

from cleanheat.cli.main import app
from cleanheat.store.engine import make_engine
from cleanheat.telemetry.tables import Alarm, Reading


def test_cli_end_to_end(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CLEANHEAT_SECRET_KEY", "cli-test")
    run = CliRunner().invoke
    r = run(app, ["init"])
    assert r.exit_code == 0, r.output
    r = run(app, ["twin", "run", "--start", "now-3h", "--hours", "3", "--prefix", "C", "--stations", "1",
                  "--buildings", "2", "--households", "2", "--weather-start", "01-30",
                  "--fault", "leak:C-S01:1"])
    assert r.exit_code == 0, r.output
    assert "readings in" in r.output
    engine = make_engine(url)
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(Reading)).scalar()
        leak = c.execute(select(Alarm.message_en)).scalars().all()
    assert n > 1000 and any("C-S01-C s_supply_pressure_kpa" in m for m in leak)
    r = run(app, ["telemetry", "token", "issue", "--device", "C-S01-C"])
    assert r.exit_code == 0 and r.output.strip().startswith("chd_")
    assert run(app, ["telemetry", "token", "issue", "--device", "NOPE"]).exit_code == 1
    now = int(time.time() * 1000) // 60_000 * 60_000
    csv = tmp_path / "h.csv"
    csv.write_text("device,point,ts,value\n" + "".join(
        f"C-S01-C,s_flow_kg_s,{datetime.fromtimestamp((now - 600_000 * i) / 1000, UTC).isoformat()},5.5\n"
        for i in range(30, 40)) + "C-S01-C,s_flow_kg_s,yesterday,5.5\n")
    r = run(app, ["telemetry", "backfill", str(csv), "--org", "htjt"])
    assert r.exit_code == 0 and "10 stored" in r.output and "1 quarantined" in r.output, r.output
    r = run(app, ["telemetry", "jobs", "--once", "--clock", "data"])
    assert r.exit_code == 0 and "rollups:" in r.output, r.output
    r = run(app, ["telemetry", "stats"])
    assert f"readings stored: {n + 10}" in r.output and "quarantined: 1 {'bad_timestamp': 1}" in r.output
    out = tmp_path / "export"
    assert run(app, ["assets", "export", str(out), "--org", "htjt"]).exit_code == 0
    assert (out / "stations.csv").read_text().splitlines()[1].startswith("C-S01,htjt,")
    r = run(app, ["assets", "import", str(out / "stations.csv")])
    assert r.exit_code == 0 and "stations: +0 / ~1" in r.output, r.output
    (tmp_path / "bad.csv").write_text("code,name_zh,area_m2\nX1,x,-5\n")
    r = run(app, ["assets", "import", str(tmp_path / "bad.csv"), "--kind", "buildings"])
    assert r.exit_code == 1 and "第 2 行 / 列 area_m2" in r.output
    engine.dispose()

"""``cleanheat emissions parse``: JSON Lines out, exit status 1 when any packet failed."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cleanheat.cli.main import app
from tests.emissions.test_hj212_codec import HOURLY, REALTIME, STANDARD_EXAMPLE

runner = CliRunner()


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_parse_one_packet():
    r = runner.invoke(app, ["emissions", "parse", STANDARD_EXAMPLE.decode().rstrip("\r\n")])
    assert r.exit_code == 0, r.output
    [obj] = _lines(r.output)
    assert obj["ok"] and obj["crc_ok"] and obj["cn"] == "1062" and obj["cp_fields"] == {"RtdInterval": "30"}


def test_parse_file_of_lines_reports_failures(tmp_path):
    bad = REALTIME[:-6] + b"0000\r\n"
    f = tmp_path / "packets.txt"
    f.write_bytes(REALTIME.rstrip(b"\r\n") + b"\n" + bad.rstrip(b"\r\n") + b"\n\n" + HOURLY)
    r = runner.invoke(app, ["emissions", "parse", "--file", str(f)])
    assert r.exit_code == 1
    objs = _lines(r.output)
    assert [o["ok"] for o in objs] == [True, False, True]
    assert objs[0]["cp"]["a21026"] == {"Rtd": 18.5, "ZsRtd": 21.1, "Flag": "N"}
    assert objs[1]["line"] == 2 and objs[1]["error"]["reason"] == "bad_crc" and objs[1]["crc_ok"] is False
    assert objs[1]["error"]["offset"] == len(bad) - 6


def test_parse_raw_capture_stream(tmp_path):
    f = tmp_path / "capture.bin"
    f.write_bytes(b"\xff\x00junk" + REALTIME + REALTIME[:30] + HOURLY)
    r = runner.invoke(app, ["emissions", "parse", "--file", str(f), "--stream"])
    assert r.exit_code == 1
    objs = _lines(r.output)
    assert [(o["ok"], o.get("error", {}).get("reason")) for o in objs] == [
        (False, "garbage"), (True, None), (False, "truncated"), (True, None)]
    assert objs[1]["offset"] == 6 and objs[3]["cn"] == "2061"
    ok = runner.invoke(app, ["emissions", "parse", "--file", str(f.with_name("ok.bin")), "--stream"])
    assert ok.exit_code == 2 and "no such file" in ok.output  # a missing file is a usage error

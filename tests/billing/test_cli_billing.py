"""``cleanheat billing validate-reads READS.csv [--format json|table] [--max-mb N]``."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cleanheat.cli.main import app

REAL = Path(__file__).parent / "data" / "dk_meter_660_2018-01.csv"


def _run(*args: str):
    return CliRunner().invoke(app, ["billing", "validate-reads", *args])


def _flat(text: str) -> str:
    """The text without whitespace (the console wraps long lines at its width)."""
    return "".join(text.split())


def _csv(tmp_path, text: str, name: str = "reads.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


HEADER = "meter_id,timestamp,energy_kwh,flow_m3_h\n"


def _hourly(meter: str, values: list[float], day: str = "2021-01-10") -> str:
    # naive times: Asia/Shanghai, so 08:00 local is 00:00 UTC
    return "".join(f"{meter},{day} {8 + i:02d}:00:00,{v},0.1\n" for i, v in enumerate(values))


def test_json_lines_one_per_finding_with_utc_times(tmp_path) -> None:
    body = _hourly("A-1", [100, 102, 104, 90, 92, 94, 96]) + _hourly("B-2", [5, 6, 7, 8, 9, 10])
    r = _run(_csv(tmp_path, HEADER + body), "--format", "json")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines == [{"meter_id": "A-1", "timestamp": "2021-01-10T03:00:00Z", "kind": "rollback",
                      "detail": lines[0]["detail"]}]
    assert lines[0]["detail"].startswith("寄存器回退") and "register rolled back" in lines[0]["detail"]


def test_offsets_are_honoured_and_output_is_utc(tmp_path) -> None:
    body = "".join(f"m,2021-01-10T{i:02d}:00:00+01:00,{100 + 2 * i},\n" for i in range(10) if i not in (4, 5, 6))
    r = _run(_csv(tmp_path, HEADER + body), "--format", "json")
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["timestamp"] for x in r.stdout.splitlines()] == ["2021-01-10T03:00:00Z"]  # 04:00+01


def test_table_is_the_default(tmp_path) -> None:
    r = _run(_csv(tmp_path, HEADER + _hourly("A-1", [100, 102, 104, 90, 92, 94])))
    assert r.exit_code == 0, r.output
    assert "rollback" in r.stdout and "1 项发现 findings" in r.stdout


def test_bad_rows_name_file_row_and_column_and_output_nothing(tmp_path) -> None:
    body = _hourly("A-1", [100, 102]) + "A-1,yesterday,104,0.1\nA-1,2021-01-10 11:00:00,lots,0.1\n,2021-01-10,1,\n"
    r = _run(_csv(tmp_path, HEADER + body), "--format", "json")
    assert r.exit_code == 1
    assert r.stdout == ""
    err = _flat(r.stderr)
    assert _flat("reads.csv: 3 个问题，未输出任何结果 / 3 problem(s), nothing was output") in err
    assert _flat("reads.csv / 第 4 行 / 列 B / 字段 timestamp: “yesterday”不是 ISO 8601 时间") in err
    assert _flat("'yesterday' is not an ISO 8601 time") in err
    assert _flat("第 5 行 / 列 C / 字段 energy_kwh: “lots”不是有限数字 ('lots' is not a finite number)") in err
    assert _flat("第 6 行 / 列 A / 字段 meter_id: 必填项为空 (required)") in err


def test_missing_column_is_refused(tmp_path) -> None:
    r = _run(_csv(tmp_path, "meter_id,timestamp\nA,2021-01-10 08:00\n"), "--format", "json")
    assert r.exit_code == 1 and r.stdout == ""
    assert _flat("reads.csv / 第 1 行 / 列 energy_kwh: 缺少列 energy_kwh (missing column energy_kwh)") \
        in _flat(r.stderr)


def test_size_limit_is_checked_before_reading(tmp_path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"\xff\xfe not even text " * 80_000)  # 1.3 MB of garbage: refused for its size only
    r = _run(str(path), "--format", "json", "--max-mb", "1")
    assert r.exit_code == 1 and r.stdout == ""
    assert _flat("big.csv: 文件过大 / file too large") in _flat(r.stderr) and "split" in r.stderr


def test_gbk_file_with_chinese_headers(tmp_path) -> None:
    text = "表号,时间,累计热量\n" + "".join(f"一号楼-101,2021-01-10 {8 + i:02d}:00,{100 + 2 * i}\n" for i in range(6))
    text += "一号楼-101,2021-01-10 14:00,0.2\n"
    r = _run(_csv(tmp_path, text, encoding="gbk"), "--format", "json")
    assert r.exit_code == 0, r.output
    assert [(d["meter_id"], d["kind"]) for d in map(json.loads, r.stdout.splitlines())] == [("一号楼-101", "reset")]


def test_the_real_meter_excerpt_is_clean() -> None:
    r = _run(str(REAL), "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""


def test_meter_sizes_and_replacement_records(tmp_path) -> None:
    # flow 1.5 m³/h at 10:00 local with qp 0.6: above 2 x qp; the exchange at 12:30 bridges 106 -> 3
    body = "".join(f"A-1,2021-01-10 {8 + i:02d}:00:00,{v},{f}\n" for i, (v, f) in enumerate(
        [(100, 0.1), (102, 0.1), (104, 1.5), (106, 0.1), (108, 0.1), (3, 0.1), (5, 0.1), (7, 0.1)]))
    meters = _csv(tmp_path, "表号,常用流量\nA-1,0.6\n", "meters.csv")
    repl = _csv(tmp_path, "meter_id,timestamp,old_final_kwh,new_initial_kwh,old_serial,new_serial\n"
                          "A-1,2021-01-10 12:30,109,2,OLD,NEW\n", "repl.csv")
    r = _run(_csv(tmp_path, HEADER + body), "--format", "json", "--meters", meters, "--replacements", repl)
    assert r.exit_code == 0, r.output
    got = [(d["timestamp"], d["kind"]) for d in map(json.loads, r.stdout.splitlines())]
    assert got == [("2021-01-10T02:00:00Z", "implausible"), ("2021-01-10T05:00:00Z", "replacement")]
    bad = _csv(tmp_path, "meter_id,qp_m3_h\nA-1,0\nB-2,big\n", "bad_meters.csv")
    r = _run(_csv(tmp_path, HEADER + body), "--format", "json", "--meters", bad)
    assert r.exit_code == 1 and r.stdout == ""
    assert _flat("bad_meters.csv / 第 3 行 / 列 B / 字段 qp_m3_h: “big”不是有限数字") in _flat(r.stderr)


cell_text = st.one_of(st.sampled_from(["", " ", "1", "-2.5", "1e3", "nan", "inf", "1,234", "'=1", "x", "12 ",
                                       "2021-01-10 08:00", "2021-01-10T08:00:00+01:00", "2021-13-01", "M-1"]),
                      st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(st.lists(cell_text, min_size=7, max_size=7))
def test_property_the_fast_path_agrees_with_the_row_spec(row) -> None:
    from cleanheat.billing.reads import READS_SPEC, _fast
    from cleanheat.tabular import Cell, csv_unescape

    cols = {f: i for i, f in enumerate(READS_SPEC.fields[:7])}
    fast = _fast(row, cols)
    res = READS_SPEC.validate({f: Cell(csv_unescape(row[i]), 2, "A") for f, i in cols.items()})
    if fast is not None:
        assert res.ok and {k: fast[k] for k in cols} == {k: res.values[k] for k in cols}
    elif res.ok:  # the spec accepts what the fast path leaves to it only with the same values on re-check
        assert res.values["meter_id"]


def test_serial_column_marks_a_replacement(tmp_path) -> None:
    text = "meter_id,timestamp,energy_kwh,serial\n" + "".join(
        f"A,2021-01-10 {8 + i:02d}:00,{v},{s}\n" for i, (v, s) in enumerate(
            [(100, ""), (102, ""), (104, "S1"), (106, "S1"), (3, "S2"), (5, "S2"), (7, "S2")]))
    r = _run(_csv(tmp_path, text), "--format", "json")
    assert r.exit_code == 0, r.output
    assert [(d["timestamp"], d["kind"]) for d in map(json.loads, r.stdout.splitlines())] == [
        ("2021-01-10T04:00:00Z", "replacement")]


def test_malformed_csv_names_the_row(tmp_path) -> None:
    body = _hourly("A-1", [100, 102]) + "A-1,2021-01-10 10:00," + "9" * 200_000 + ",0.1\n"  # over csv's field limit
    r = _run(_csv(tmp_path, HEADER + body), "--format", "json")
    assert r.exit_code == 1 and r.stdout == ""
    assert _flat("reads.csv / 第 4 行: CSV 格式错误 (malformed CSV)") in _flat(r.stderr)

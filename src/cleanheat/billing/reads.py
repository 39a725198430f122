"""Meter reads from a CSV file: ``meter_id,timestamp,energy_kwh`` and optionally ``volume_m3,flow_m3_h,
supply_temp_c,return_temp_c,serial`` (Chinese headers accepted too, see :data:`READS_SPEC`).

The file is checked against a size limit before it is opened, then streamed row by row (UTF-8 with or without BOM,
else GBK as saved by Chinese Excel), each row through :class:`cleanheat.rowspec.RowSpec`. Every problem is
collected with file, row and column; if there is any, :class:`ReadsFileError` is raised and nothing is returned
(all-or-nothing). Timestamps: ISO 8601 with an offset (``2020-11-01T08:00:00+08:00``, ``...Z``) or naive, which
is taken as Asia/Shanghai local time (:data:`cleanheat.timeutil.CHINA_TZ`).
"""

from __future__ import annotations

import csv
import io
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from openpyxl.utils import get_column_letter

from cleanheat.billing.validation import MeterFacts, Replacement, Series
from cleanheat.errors import InputError, InputIssue
from cleanheat.rowspec import Column, Msg, RowSpec, number, raw_text, text
from cleanheat.tabular import Cell, SheetLimits, csv_unescape, header_map, read_workbook
from cleanheat.timeutil import CHINA_TZ

#: at most this many problems are listed (all are counted)
MAX_ISSUES = 100
#: the widest row accepted [cells]
MAX_COLUMNS = 50


class ReadsFileError(InputError):
    """A reads file that cannot be used as a whole (nothing was read)."""


def timestamp(raw: object) -> datetime:
    """An aware datetime from ISO 8601 text; naive text is Asia/Shanghai local time."""
    value = datetime.fromisoformat(raw_text(raw))
    return value.replace(tzinfo=CHINA_TZ) if value.tzinfo is None else value


def finite(raw: object) -> float:
    """A finite float (``nan``/``inf`` refused)."""
    value = number(raw)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


_NUM = Msg("“{raw}”不是有限数字", "{raw!r} is not a finite number")
_TS = Msg("“{raw}”不是 ISO 8601 时间（如 2020-11-01T08:00:00+08:00）",
          "{raw!r} is not an ISO 8601 time (e.g. 2020-11-01T08:00:00+08:00)")

READS_SPEC = RowSpec((
    Column("meter_id", ("表号", "meter_id"), text, required=True),
    Column("timestamp", ("时间", "timestamp"), timestamp, required=True, messages={"type": _TS}),
    Column("energy_kwh", ("累计热量", "energy_kwh"), finite, required=True, unit="kWh", messages={"type": _NUM}),
    Column("volume_m3", ("累计流量", "volume_m3"), finite, unit="m³", messages={"type": _NUM}),
    Column("flow_m3_h", ("瞬时流量", "flow_m3_h"), finite, unit="m³/h", messages={"type": _NUM}),
    Column("supply_temp_c", ("供水温度", "supply_temp_c"), finite, unit="°C", messages={"type": _NUM}),
    Column("return_temp_c", ("回水温度", "return_temp_c"), finite, unit="°C", messages={"type": _NUM}),
    Column("serial", ("出厂编号", "serial"), text),
), inline_en=True)
NUMERIC = ("energy_kwh", "volume_m3", "flow_m3_h", "supply_temp_c", "return_temp_c")


@dataclass
class _Meter:
    """One meter's columns as they are read (before sorting), 8 bytes a value."""

    ts_s: array = field(default_factory=lambda: array("q"))
    values: dict[str, array] = field(default_factory=lambda: {k: array("d") for k in NUMERIC})
    serial: list[str | None] = field(default_factory=list)  # kept only once a serial is seen

    def add(self, v: dict) -> None:
        self.ts_s.append(int(v["timestamp"].timestamp()))
        for k in NUMERIC:
            self.values[k].append(math.nan if v[k] is None else v[k])
        if v["serial"] or self.serial:
            self.serial.extend([None] * (len(self.ts_s) - 1 - len(self.serial)))
            self.serial.append(v["serial"] or None)

    def series(self, meter_id: str) -> Series:
        """The readings in time order; a reading repeated exactly is kept once."""
        ts = np.frombuffer(self.ts_s, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        cols = {k: np.frombuffer(v, dtype=float)[order] for k, v in self.values.items()}
        serial = [self.serial[i] if i < len(self.serial) else None for i in order]
        ts = ts[order]
        same = np.zeros(len(ts), dtype=bool)
        same[1:] = ts[1:] == ts[:-1]
        for k in NUMERIC:
            same[1:] &= (cols[k][1:] == cols[k][:-1]) | (np.isnan(cols[k][1:]) & np.isnan(cols[k][:-1]))
        keep = ~same
        serials = tuple(s for s, k in zip(serial, keep, strict=True) if k)
        return Series(meter_id, ts[keep], *(cols[k][keep] for k in NUMERIC),
                      serial=serials if any(serials) else ())


def _check_size(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise ReadsFileError(f"{path.name}: 文件过大 / file too large", [InputIssue(
            f"{size:,} 字节，上限 {max_bytes:,} 字节，请拆分文件 ({size:,} bytes, the limit is {max_bytes:,}: split "
            f"the file)", file=path.name)])


def _header(row: list[str], file: str) -> tuple[dict[str, int], list[InputIssue]]:
    found = READS_SPEC.locate(row)
    missing = [c.field for c in READS_SPEC.columns if c.required and c.field not in found]
    return found, [InputIssue(f"缺少列 {m} (missing column {m})", file=file, row=1, column=m) for m in missing]


def _rows(path: Path, encoding: str, on_bytes: Callable[[int], None] | None):
    """(row number, cells) of the CSV, in ``encoding``; ``on_bytes(position)`` reports progress."""
    with path.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding=encoding, newline=""))
        n = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ReadsFileError(f"{path.name}: 无法读取的 CSV / not a readable CSV", [InputIssue(
                    f"CSV 格式错误 (malformed CSV): {exc}", file=path.name, row=n + 1)]) from exc
            n += 1
            if on_bytes is not None and n % 10_000 == 0:
                on_bytes(raw.tell())
            yield n, row


def _fast(row: list[str], cols: dict[str, int]) -> dict | None:
    """The row's values when it is plainly well-formed (the common case), else None: the row spec then checks it
    and words its problems (both give the same values for a good row)."""
    try:
        cells = {f: row[i].strip() for f, i in cols.items()}
        if not cells["meter_id"] or any(c.startswith("'") for c in cells.values()):
            return None
        out: dict = {"meter_id": cells["meter_id"], "timestamp": timestamp(cells["timestamp"]),
                     "serial": cells.get("serial") or None}
        for k in NUMERIC:
            raw = cells.get(k, "")
            out[k] = float(raw) if raw else None
            if out[k] is not None and not math.isfinite(out[k]):
                return None
        return out if out["energy_kwh"] is not None else None
    except (ValueError, IndexError):
        return None


def _parse(path: Path, encoding: str, on_bytes) -> tuple[dict[str, _Meter], list[InputIssue], int]:
    """The meters of the file and every problem (the first :data:`MAX_ISSUES`), and the problem count."""
    meters: dict[str, _Meter] = {}
    issues: list[InputIssue] = []
    count = 0
    cols: dict[str, int] = {}
    for n, row in _rows(path, encoding, on_bytes):
        if n == 1:
            cols, issues = _header(row, path.name)
            if issues:
                return meters, issues, len(issues)
            continue
        if not any(c.strip() for c in row):
            continue
        values = _fast(row, cols) if len(row) <= MAX_COLUMNS else None
        if values is not None:
            meters.setdefault(values["meter_id"], _Meter()).add(values)
            continue
        if len(row) > MAX_COLUMNS:
            found = [InputIssue(f"{len(row)} 列，上限 {MAX_COLUMNS} ({len(row)} cells, at most {MAX_COLUMNS})",
                                file=path.name, row=n)]
        else:
            cells = {f: Cell(csv_unescape(row[i]) if i < len(row) else None, n, get_column_letter(i + 1))
                     for f, i in cols.items()}
            res = READS_SPEC.validate(cells, file=path.name)
            found = res.issues
            if not found:
                meters.setdefault(res["meter_id"], _Meter()).add(res.values)
        count += len(found)
        issues += found[:max(MAX_ISSUES - len(issues), 0)]
    if not cols:
        issues.append(InputIssue("空文件，没有表头 (empty file: no header row)", file=path.name, row=1))
        count += 1
    return meters, issues, count


def read_reads_csv(path: Path, max_bytes: int, on_bytes: Callable[[int], None] | None = None) -> dict[str, Series]:
    """{meter_id: Series} of a reads CSV of at most ``max_bytes`` [bytes]; raises :class:`ReadsFileError` with
    every problem (file, row, column) and returns nothing when any row is bad."""
    _check_size(path, max_bytes)
    try:
        try:
            meters, issues, count = _parse(path, "utf-8-sig", on_bytes)
        except UnicodeDecodeError:
            meters, issues, count = _parse(path, "gbk", on_bytes)
    except UnicodeDecodeError as exc:
        raise ReadsFileError(f"{path.name}: 不是 UTF-8 或 GBK 文本 / not UTF-8 or GBK text",
                             [InputIssue(f"无法解码的字节 (undecodable bytes) at {exc.start}", file=path.name)]
                             ) from exc
    if issues:
        more = f"（仅列出前 {len(issues)} 个 / the first {len(issues)} listed）" if count > len(issues) else ""
        raise ReadsFileError(f"{path.name}: {count} 个问题，未输出任何结果 / {count} problem(s), nothing was "
                             f"output{more}", issues)
    return {m: meters[m].series(m) for m in sorted(meters)}


# --- small side files: meter facts and replacement records --------------------------------------------------

#: a side file (meters, replacements) is small: at most 200,000 rows
SIDE_LIMITS = SheetLimits(max_rows=200_000, max_cols=MAX_COLUMNS, max_cells=2_000_000)

FACTS_SPEC = RowSpec((
    Column("meter_id", ("表号", "meter_id"), text, required=True),
    Column("qp_m3_h", ("常用流量", "qp_m3_h"), finite, required=True, unit="m³/h", minimum=0.0,
           exclusive_minimum=True, messages={"type": _NUM}),
), inline_en=True)

REPLACEMENTS_SPEC = RowSpec((
    Column("meter_id", ("表号", "meter_id"), text, required=True),
    Column("timestamp", ("换表时间", "timestamp"), timestamp, required=True, messages={"type": _TS}),
    Column("old_final_kwh", ("旧表末读数", "old_final_kwh"), finite, required=True, unit="kWh",
           messages={"type": _NUM}),
    Column("new_initial_kwh", ("新表初读数", "new_initial_kwh"), finite, required=True, unit="kWh",
           messages={"type": _NUM}),
    Column("old_serial", ("旧表编号", "old_serial"), text, default=""),
    Column("new_serial", ("新表编号", "new_serial"), text, default=""),
), inline_en=True)


def _side_rows(path: Path, spec: RowSpec, max_bytes: int) -> list[dict]:
    """The typed rows of a small CSV or Excel file checked by ``spec`` (all-or-nothing)."""
    _check_size(path, max_bytes)
    sheets = read_workbook(path.read_bytes(), path.name, SIDE_LIMITS)
    rows = [r for r in next(iter(sheets.values())).rows if any(not c.empty for c in r)]
    if not rows:
        raise ReadsFileError(f"{path.name}: 空文件 / empty file", [InputIssue("no header row", file=path.name, row=1)])
    found, missing = header_map(rows[0], spec.aliases())
    required = [m for m in missing if spec.column(m).required]
    if required:
        raise ReadsFileError(f"{path.name}: 缺少列 / missing columns", [
            InputIssue(f"缺少列 {m} (missing column {m})", file=path.name, row=1, column=m) for m in required])
    idx = {name: rows[0].index(cell) for name, cell in found.items()}
    out, issues = [], []
    for row in rows[1:]:
        cells = {f: row[i] if i < len(row) else None for f, i in idx.items()}
        res = spec.validate(cells, file=path.name, row_no=row[0].row)
        issues += res.issues
        out.append(res.values)
    if issues:
        raise ReadsFileError(f"{path.name}: {len(issues)} 个问题 / {len(issues)} problem(s)", issues[:MAX_ISSUES])
    return out


def read_meter_facts(path: Path, max_bytes: int) -> dict[str, MeterFacts]:
    """{meter_id: MeterFacts} from a CSV/Excel file ``meter_id,qp_m3_h`` (nominal flow [m³/h])."""
    return {r["meter_id"]: MeterFacts(r["meter_id"], r["qp_m3_h"]) for r in _side_rows(path, FACTS_SPEC, max_bytes)}


def read_replacements(path: Path, max_bytes: int) -> list[Replacement]:
    """Replacement records from a CSV/Excel file ``meter_id,timestamp,old_final_kwh,new_initial_kwh
    [,old_serial,new_serial]`` (registers [kWh])."""
    return [Replacement(r["meter_id"], r["timestamp"], r["old_final_kwh"], r["new_initial_kwh"],
                        r["old_serial"] or "", r["new_serial"] or "")
            for r in _side_rows(path, REPLACEMENTS_SPEC, max_bytes)]

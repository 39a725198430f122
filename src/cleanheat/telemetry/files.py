"""Backfill: historical readings from a file, through the same validation as live data.

The file (CSV in UTF-8 or GBK as saved by Chinese Excel, or an Excel workbook: its first sheet) needs the columns
``device,point,ts,value`` (header row; other columns are ignored). Reading goes through
``cleanheat.tabular.read_workbook``. A file whose structure is wrong (no header, a missing column, a row with too
few cells, undecodable text, a damaged workbook) is refused whole, naming the sheet and row; otherwise every row
is either stored or quarantined with its reason and ``file row N``. Storage is idempotent, so a backfill can be
re-run safely.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from cleanheat.auth.service import Actor, audit
from cleanheat.errors import InputError, InputIssue
from cleanheat.tabular import Cell, SheetLimits, read_workbook
from cleanheat.telemetry.payload import ParsedMessage
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline, IngestResult
from cleanheat.telemetry.storage import BatchCounts
from cleanheat.telemetry.validation import TokenGrant, parse_ts_ms

#: A readings file: at most 200,000 rows of a few columns (split longer backfills into several files).
READINGS_LIMITS = SheetLimits(max_rows=200_000, max_cols=20, max_cells=2_000_000)

REQUIRED = ("device", "point", "ts", "value")


class BackfillError(InputError):
    """A backfill file that cannot be read as a whole (nothing was stored)."""


def _number(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def _value(cell: Cell) -> object:
    """A reading's value: numbers stay numbers, numeric-looking text becomes a float, other text stays text."""
    v = cell.value
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return _number(cell.text)


def _ts(cell: Cell) -> str:
    """A timestamp as text (an Excel date cell without a zone stays without one, and is quarantined for it)."""
    v = cell.value
    return v.isoformat() if isinstance(v, datetime) else cell.text


def read_readings_file(data: bytes, file: str = "readings.csv") -> list[tuple[str, str, str, object, int]]:
    """(device, point, ts, value, row number) of every row of a CSV or Excel file; numeric values become floats."""
    try:
        sheets = read_workbook(data, file, READINGS_LIMITS)
    except BackfillError:
        raise
    except InputError as exc:  # undecodable text, a damaged workbook, an unsupported type: refused whole
        raise BackfillError(exc.summary, exc.issues) from exc
    sheet = next(iter(sheets.values()), None)
    sheet_name = None if sheet is None or sheet.name == "csv" else sheet.name
    rows_in = [r for r in (sheet.rows if sheet is not None else []) if any(not c.empty for c in r)]
    if not rows_in:
        raise BackfillError(f"{file}: empty file", [InputIssue("no header row", file=file, sheet=sheet_name, row=1)])
    header = rows_in[0]
    cols = [c.text.lower() for c in header]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise BackfillError(f"{file}: missing columns", [
            InputIssue(f"missing column {c!r}", file=file, sheet=sheet_name, row=header[0].row, column=c)
            for c in missing])
    idx = [cols.index(c) for c in REQUIRED]
    need = max(idx) + 1
    rows, issues = [], []
    for row in rows_in[1:]:
        n = row[0].row
        # a CSV row with too few cells is broken (an Excel row simply ends at its last filled cell)
        if len(row) < need and sheet_name is None:
            issues.append(InputIssue(f"{len(row)} cells, expected at least {need}", file=file, row=n))
            continue
        cells = [row[i] if i < len(row) else Cell(None, n, "") for i in idx]
        rows.append((cells[0].text, cells[1].text, _ts(cells[2]), _value(cells[3]), n))
    if issues:
        raise BackfillError(f"{file}: {len(issues)} malformed row(s); nothing was stored", issues)
    return rows


def _sort_key(r: tuple) -> tuple:
    try:
        ts = parse_ts_ms(r[2])
    except (ValueError, TypeError):
        ts = -1
    return r[0], r[1], ts


def backfill(pipeline: IngestPipeline, rows: list[tuple[str, str, str, object, int]], *, file: str,
             org_id: int | None = None, chunk: int = 100_000,
             progress: Callable[[int], None] | None = None) -> IngestResult:
    """Ingest rows in chunks (one transaction each), per point in time order (stuck detection needs order).

    ``org_id``: only devices of this organisation are accepted (the others are quarantined as unknown)."""
    grant = TokenGrant(0, org_id, None) if org_id is not None else None
    rows = sorted(rows, key=_sort_key)
    total = IngestResult(BatchCounts())
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        by_device: dict[str, list] = {}
        for d, p, t, v, n in part:
            by_device.setdefault(d, []).append((d or None, p, t, v, f"row {n}"))
        msgs = [Inbound(parsed=ParsedMessage(token=None, readings=r), location=file, grant=grant,
                        trusted=grant is None) for r in by_device.values()]
        res = pipeline.ingest(msgs, source="csv")
        total.counts.add(res.counts)
        total.reasons.update(res.reasons)
        if progress is not None:
            progress(len(part))
    return total


def backfill_upload(session: Session, actor: Actor, pipeline: IngestPipeline, data: bytes, filename: str
                    ) -> IngestResult:
    """A backfill file uploaded by a person: the caller's own devices only (city-wide roles: any), audited in
    ``session``. The readings are stored by the pipeline in their own transactions (acknowledged once stored)."""
    rows = read_readings_file(data, filename)
    res = backfill(pipeline, rows, file=filename, org_id=None if actor.city_wide else actor.org_id)
    audit(session, actor, "backfill", "telemetry", filename, res.as_dict())
    return res

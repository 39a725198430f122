"""CSV backfill: historical readings from a file, through the same validation as live data.

The file needs the columns ``device,point,ts,value`` (UTF-8, header row; other columns are ignored). A file whose
structure is wrong (no header, a missing column, a row with too few cells, not UTF-8) is refused whole, naming
the row; otherwise every row is either stored or quarantined with its reason and ``file row N``. Storage is
idempotent, so a backfill can be re-run safely.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from cleanheat.errors import InputError, InputIssue
from cleanheat.telemetry.payload import ParsedMessage
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline, IngestResult
from cleanheat.telemetry.storage import BatchCounts
from cleanheat.telemetry.validation import TokenGrant, parse_ts_ms

REQUIRED = ("device", "point", "ts", "value")


class BackfillError(InputError):
    """A backfill file that cannot be read as a whole (nothing was stored)."""


def _number(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def read_readings_csv(data: bytes, file: str = "readings.csv") -> list[tuple[str, str, str, object, int]]:
    """(device, point, ts, value, row number) of every row; values that look numeric become floats."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BackfillError(f"{file}: not UTF-8", [InputIssue("not UTF-8", file=file, offset=exc.start)]) from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise BackfillError(f"{file}: empty file", [InputIssue("no header row", file=file, row=1)])
    cols = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise BackfillError(f"{file}: missing columns", [InputIssue(f"missing column {c!r}", file=file, row=1,
                                                                    column=c) for c in missing])
    idx = [cols.index(c) for c in REQUIRED]
    need = max(idx) + 1
    rows, issues = [], []
    for n, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < need:
            issues.append(InputIssue(f"{len(row)} cells, expected at least {need}", file=file, row=n))
            continue
        d, p, t, v = (row[i].strip() for i in idx)
        rows.append((d, p, t, _number(v), n))
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


def backfill_file(pipeline: IngestPipeline, path: Path, **kw) -> IngestResult:
    return backfill(pipeline, read_readings_csv(Path(path).read_bytes(), Path(path).name), file=Path(path).name, **kw)

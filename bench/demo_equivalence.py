"""Is the demo city the same after a change? Build it with a frozen clock, dump every table (rows sorted) and
compare two dumps (floats within 1e-9 relative).

    PYTHONPATH=src python bench/demo_equivalence.py build sqlite:////tmp/a.db /tmp/var-a
    python bench/demo_equivalence.py dump sqlite:////tmp/a.db /tmp/a.pickle
    python bench/demo_equivalence.py compare /tmp/a.pickle /tmp/b.pickle emissions_points.password_hash ...

Columns that differ between two builds of the same code (salted password hashes, solver timings in summaries)
are passed to ``compare`` as ``table.column`` to be ignored.
"""

from __future__ import annotations

import math
import pickle
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

FIXED = datetime(2026, 12, 7, 8, 17, 33, tzinfo=UTC)


def build(url: str, var_dir: str) -> None:
    import cleanheat.store.base as base

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return FIXED if tz is not None else FIXED.replace(tzinfo=None)

    base.datetime = Frozen  # utcnow() -> FIXED (imported before any module that imports utcnow by name)
    from cleanheat.cli.core import run_init
    from cleanheat.config import Settings

    t0, c0 = time.perf_counter(), time.process_time()
    run_init(Settings(database_url=url, var_dir=Path(var_dir), secret_key="x"), demo=True)
    print(f"build: wall {time.perf_counter() - t0:.1f} s, cpu {time.process_time() - c0:.1f} s", file=sys.stderr)


def dump(url: str, out: str) -> None:
    from sqlalchemy import MetaData, create_engine, select

    eng = create_engine(url)
    md = MetaData()
    md.reflect(eng)
    tables = {}
    with eng.connect() as conn:
        for name, t in sorted(md.tables.items()):
            tables[name] = ([c.name for c in t.columns], sorted((tuple(r) for r in conn.execute(select(t))), key=repr))
    Path(out).write_bytes(pickle.dumps(tables))


def _same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0)
    return x == y


def compare(a_path: str, b_path: str, ignore: set[str]) -> int:
    a, b = (pickle.loads(Path(p).read_bytes()) for p in (a_path, b_path))
    bad = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b or a[name][0] != b[name][0]:
            print(f"{name}: missing or different columns")
            bad += 1
            continue
        cols, ra = a[name]
        rb = b[name][1]
        skip = {c for c in cols if f"{name}.{c}" in ignore}
        if len(ra) != len(rb):
            print(f"{name}: {len(ra)} rows != {len(rb)}")
            bad += 1
            continue

        def key(row, skip=skip, cols=cols):
            return repr(tuple(round(v, 6) if isinstance(v, float) else v
                              for c, v in zip(cols, row, strict=True) if c not in skip))

        differ = Counter(c for x, y in zip(sorted(ra, key=key), sorted(rb, key=key), strict=True)
                         for c, u, v in zip(cols, x, y, strict=True) if c not in skip and not _same(u, v))
        bad += bool(differ)
        print(f"{name}: {len(ra)} rows " + (f"differ in {dict(differ)}" if differ else "equal")
              + (f" (ignoring {sorted(skip)})" if skip else ""))
    print("DIFFERENCES" if bad else "ALL EQUAL")
    return 1 if bad else 0


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "build":
        build(*args)
    elif cmd == "dump":
        dump(*args)
    else:
        sys.exit(compare(args[0], args[1], set(args[2:])))

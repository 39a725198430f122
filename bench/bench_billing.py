"""Benchmark: a heat company's season billed for N synthetic households on PostgreSQL (issue 16's target:
3,000,000 households with one season of monthly reads, the run ≤ 60 s on 2 cores, memory ≤ 2 GB).

    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_billing.py [--households 3000000] [--pg-url URL] [--keep]

Not timed (the data): a new PostgreSQL database, migrated; one heat company; N/100 buildings; N accounts (80 %
metered, 20 % area-billed; a third energy-saving dwellings, the rest ordinary; areas 40-120 m²; 0.02 % connected
from 1 January); 8 reads per metered account (the season's first instant, the first of each month, the season's
last instant; the register rises 60-160 kWh/m² over the season) made on the server with INSERT ... SELECT over
generate_series (the reads' foreign-key trigger is disabled while loading and the unique index built afterwards:
the data are consistent by construction). Anomalies: 0.02 % lack the season's last read (estimated), 0.02 % have
a register that dips once (validated one by one), 0.01 % have no reads (settled at the area fee).

Timed, each run in a process of its own (``run_billing`` and its commit, as ``cleanheat billing run`` does): the
prepayment run, then (approval not timed) the settlement run, which is the target's figure. Each prints the wall
and CPU time and the process's peak RSS (``ru_maxrss``); the reconciliation must balance. ``name=value`` lines
last (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid

from sqlalchemy import create_engine, text

PG_ADMIN = os.environ.get("CLEANHEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
COMPANY = "BENCH-HC"
SEASON = "2020-2021"
#: share of the season's heat consumed by each read (Harbin's months weighted by degree days, roughly)
READS = [("2020-10-19 16:00:00+00", 0.0), ("2020-10-31 16:00:00+00", 0.06), ("2020-11-30 16:00:00+00", 0.22),
         ("2020-12-31 16:00:00+00", 0.42), ("2021-01-31 16:00:00+00", 0.62), ("2021-02-28 16:00:00+00", 0.80),
         ("2021-03-31 16:00:00+00", 0.95), ("2021-04-20 16:00:00+00", 1.0)]


def _generate(url: str, n: int) -> None:
    from cleanheat.store import migrate

    migrate.upgrade(url)
    eng = create_engine(url)
    t0 = time.perf_counter()
    with eng.begin() as c:
        org = c.execute(text("INSERT INTO organisations (code, name_zh, name_en, kind, created_at) VALUES "
                             "(:c, '基准热力', 'Bench heat company', 'heat_company', now()) RETURNING id"),
                        {"c": COMPANY}).scalar_one()
        c.execute(text(
            "INSERT INTO assets_buildings (code, name_zh, org_id, admin_unit_code, address, area_m2, energy_standard, "
            "design_heat_index_w_m2, note, created_at, updated_at) SELECT 'BB' || g, '楼 ' || g, :org, "
            "CASE g % 3 WHEN 0 THEN 'daoli' WHEN 1 THEN 'nangang' ELSE 'xiangfang' END, '', 8000, 'none', 50, '', "
            "now(), now() FROM generate_series(1, :nb) g"), {"org": org, "nb": max(n // 100, 1)})
        b0 = c.execute(text("SELECT MIN(id) FROM assets_buildings WHERE org_id = :org"), {"org": org}).scalar_one()
        c.execute(text(
            "INSERT INTO billing_accounts (id, org_id, building_id, account_no, customer_class, billing_mode, area_m2, "
            "meter_no, connected_from, dwelling, created_at, updated_at) SELECT g, :org, :b0 + (g - 1) / 100, "
            "'BA' || g, CASE WHEN g % 3 = 0 THEN 'energy_saving_dwelling' ELSE 'ordinary_dwelling' END, "
            "CASE WHEN g % 5 = 0 THEN 'area' ELSE 'metered' END, (4000 + (g::bigint * 7919) % 8000) / 100.0, "
            "CASE WHEN g % 5 = 0 THEN '' ELSE 'M' || g END, "
            "CASE WHEN g % 5000 = 7 THEN DATE '2021-01-01' END, '{}', now(), now() FROM generate_series(1, :n) g"),
            {"org": org, "b0": b0, "n": n})
        c.execute(text("SELECT setval(pg_get_serial_sequence('billing_accounts', 'id'), :n)"), {"n": n})
    print(f"accounts: {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    values = ", ".join(f"({k}, TIMESTAMPTZ '{at}', {f})" for k, (at, f) in enumerate(READS))
    with eng.begin() as c:
        c.execute(text("ALTER TABLE billing_meter_reads DISABLE TRIGGER ALL"))
        c.execute(text("ALTER TABLE billing_meter_reads DROP CONSTRAINT uq_billing_meter_reads_account_id_read_at"))
        c.execute(text(
            "INSERT INTO billing_meter_reads (org_id, account_id, meter_no, read_at, energy_kwh, source, estimated) "
            "SELECT a.org_id, a.id, a.meter_no, t.at, "
            "ROUND(1000 + a.id % 5000 + a.area_m2 * (60 + (a.id * 31) % 100) * t.f "
            "      - CASE WHEN a.id % 5000 = 13 AND t.k = 3 THEN a.area_m2 * 40 ELSE 0 END, 3), 'twin', false "
            f"FROM billing_accounts a CROSS JOIN (VALUES {values}) AS t(k, at, f) "
            "WHERE a.billing_mode = 'metered' AND a.id % 10000 <> 17 AND NOT (a.id % 5000 = 11 AND t.k = 7)"))
        c.execute(text("ALTER TABLE billing_meter_reads ADD CONSTRAINT uq_billing_meter_reads_account_id_read_at "
                       "UNIQUE (account_id, read_at)"))
        c.execute(text("ALTER TABLE billing_meter_reads ENABLE TRIGGER ALL"))
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
        reads = c.execute(text("SELECT COUNT(*) FROM billing_meter_reads")).scalar_one()
    eng.dispose()
    print(f"reads: {reads:,} in {time.perf_counter() - t0:.1f} s", flush=True)


def _child(url: str, kind: str) -> None:
    from cleanheat.auth.service import Actor
    from cleanheat.billing import service
    from cleanheat.config import Settings
    from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope

    settings = Settings(database_url=url)
    engine = make_engine(url)
    stages = {}
    t0, c0 = time.perf_counter(), time.process_time()

    def step(stage: str) -> None:
        stages[stage] = round(time.perf_counter() - t0, 2)

    with session_scope(make_sessionmaker(engine)) as s:
        rep = service.run_billing(s, Actor.system("bench"), COMPANY, SEASON, kind, city_dir=settings.city_dir,
                                  data_dir=settings.data_dir, progress=step)
        service.check_reconciliation(rep.reconciliation)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    engine.dispose()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(rss_mb),
                      "stages_s": stages, "run_id": rep.run_id, "statements": rep.statement_count,
                      "total_yuan": str(rep.total_yuan), "exceptions": rep.exception_counts,
                      "line_totals": rep.line_totals, "reconciliation": rep.reconciliation.as_dict()},
                     ensure_ascii=False), flush=True)


def _timed(url: str, kind: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--url", url], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=3_000_000)
    ap.add_argument("--pg-url", default=PG_ADMIN, help="An administrator's URL; a new database is made beside it.")
    ap.add_argument("--url", help="Use this generated database again (its billing runs are emptied first).")
    ap.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    ap.add_argument("--child", choices=["prepayment", "settlement"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.url, args.child)
        return
    url, made = args.url, None
    if url is not None:  # a generated database used again: its runs go (a bench database only)
        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(text("TRUNCATE billing_payments, billing_statement_lines, billing_statements, "
                           "billing_run_exceptions, billing_runs"))
        eng.dispose()
    else:
        made = f"cleanheat_bench_billing_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{made}"'))
        admin.dispose()
        url = args.pg_url.rsplit("/", 1)[0] + "/" + made
        print(f"database {made}: generating {args.households:,} households (not timed)", flush=True)
        _generate(url, args.households)
    try:
        pre = _timed(url, "prepayment")
        print(json.dumps(pre, ensure_ascii=False), flush=True)
        t0 = time.perf_counter()
        from cleanheat.auth.service import Actor
        from cleanheat.billing import service
        from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope

        engine = make_engine(url)
        with session_scope(make_sessionmaker(engine)) as s:
            service.approve_run(s, Actor.system("bench"), pre["run_id"])
        engine.dispose()
        approve_s = time.perf_counter() - t0
        print(f"approve: {approve_s:.1f} s (not timed in the target)", flush=True)
        sett = _timed(url, "settlement")
        print(json.dumps(sett, ensure_ascii=False), flush=True)
        print(f"households={sett['statements']}")
        print(f"prepayment_run_s={pre['wall_s']}")
        print(f"prepayment_peak_rss_mb={pre['peak_rss_mb']}")
        print(f"approve_s={approve_s:.1f}")
        print(f"settlement_run_s={sett['wall_s']}")
        print(f"settlement_cpu_s={sett['cpu_s']}")
        print(f"settlement_peak_rss_mb={sett['peak_rss_mb']}")
        print(f"settlement_statements={sett['statements']}")
        print(f"reconciliation_balanced={sett['reconciliation']['balanced']}")
        print(f"load_average={os.getloadavg()[0]:.1f}")
    finally:
        if made and not args.keep:
            admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{made}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()

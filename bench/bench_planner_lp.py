"""Benchmark: the city pathway LP for 10 000 synthetic areas × all options × 3 years, solved to optimality.

    .venv/bin/python bench/bench_planner_lp.py [--areas 10000] [--method ipm] [--no-crossover]

Every area gets gas and every local resource, so every conversion option is a candidate (the largest model).
The scenario has the plan's rate targets by area type for 2019-2021, a gas limit per year, a subsidy budget per
year, grid capacity per supply area and yearly build rates. Prints ``name=value`` lines (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import time

import yaml

from cleanheat.config import REPO_ROOT
from cleanheat.planner.engine import appraisal_for, load_inputs, parse
from cleanheat.planner.pathway import build_model, interpret, solve_model
from cleanheat.planner.synthetic import parts_for, synthetic_harbin

SCENARIO = {
    "name": "benchmark",
    "start_year": 2019, "end_year": 2021,
    "targets": {"from_plan": True},
    "gas": {"supply_1e4_m3": {2019: 20000, 2020: 40000, 2021: 60000}},
    "grid": {"reinforcement_mw": {2020: 0.05, 2021: 0.1}},
    "budget": {"subsidy_wan_yuan": {2019: 300000, 2020: 300000, 2021: 300000}},
    "build_rate": {"max_m2_per_year": {"chp_network": 1.2e8, "ashp": 5.0e6, "gshp": 3.0e6, "geothermal": 2.0e6},
                   "max_total_m2_per_year": 1.6e8},
    "caps": {"pm_kg": {2021: 3.0e7}},
    "solver": {"method": "ipm", "time_limit_s": 600},
}


def main() -> None:
    ap_ = argparse.ArgumentParser()
    ap_.add_argument("--areas", type=int, default=10_000)
    ap_.add_argument("--method", default="ipm")
    ap_.add_argument("--no-crossover", action="store_true")
    args = ap_.parse_args()
    t0 = time.perf_counter()
    inputs = load_inputs(REPO_ROOT / "data")
    doc = dict(SCENARIO, solver={"method": args.method, "time_limit_s": 600, "crossover": not args.no_crossover})
    sc = parse(yaml.safe_dump(doc), "benchmark.yaml", inputs)
    areas = synthetic_harbin(inputs.plan, inputs.catalogue, seed=7, parts=parts_for(args.areas), all_resources=True)
    t1 = time.perf_counter()
    ap = appraisal_for(sc, inputs, areas)
    t2 = time.perf_counter()
    model = build_model(ap, sc)
    t3 = time.perf_counter()
    raw = solve_model(model, method=sc.solver_method, time_limit_s=sc.time_limit_s, crossover=sc.crossover)
    t4 = time.perf_counter()
    res = interpret(model, ap, sc, raw)
    t5 = time.perf_counter()
    conv = sum(not o.is_status_quo for o in inputs.catalogue.options)
    print(f"machine_cpus={os.cpu_count()} load_avg_1min={os.getloadavg()[0]:.2f}")
    print(f"areas={len(areas)}")
    print(f"catalogue_options={len(inputs.catalogue.options)} conversion_options={conv} years={len(sc.years)}")
    print(f"columns={model.n_col} rows={model.n_row} nonzeros={model.matrix.nnz}")
    print(f"status={res.status} iterations={raw.iterations} method={args.method} crossover={not args.no_crossover}")
    print(f"binding_constraints={len(res.binding)}")
    print(f"inputs_s={t1 - t0:.2f}")
    print(f"appraisal_s={t2 - t1:.2f}")
    print(f"build_lp_s={t3 - t2:.2f}")
    print(f"solve_s={t4 - t3:.2f}")
    print(f"interpret_s={t5 - t4:.2f}")
    print(f"total_s={t5 - t0:.2f}")
    print(f"build_plus_solve_s={t4 - t2:.2f}")


if __name__ == "__main__":
    main()

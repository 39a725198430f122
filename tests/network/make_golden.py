"""Write the pandapipes reference fixtures of the network tests (``tests/network/data/pandapipes/``).

The shared benchmark generator (``../shared/tools/pandapipes_bench.py``) is *run*, never copied (its file carries
no licence statement): for each case below it writes a seeded ``dhnet-bench/1`` network and pandapipes 0.16's
results for it. They are stored here as gzipped JSON with a manifest (generator checksum, pandapipes and numpy
versions), so the golden tests run on a clone without ``../shared`` and never skip for the lack of it.

    python tests/network/make_golden.py            # (re)write the fixtures
    python tests/network/make_golden.py --check    # recompute live and compare with the shipped fixtures

Add a case here (and run the script) before a test asks ``pandapipes_case``/``bench_generator`` for it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "pandapipes"
MANIFEST = DATA / "manifest.json"
TOOL_CANDIDATES = [ROOT.parent / "shared" / "tools", ROOT.parents[1] / "shared" / "tools",
                   Path("/work/shared/tools")]

#: (consumers, generator options, whether pandapipes' results are kept: the convergence tests need the net only)
CASES: list[tuple[int, dict, bool]] = [
    (150, {}, True),  # test_pandapipes_golden, test_io_cli
    (400, {"mesh_fraction": 0.25, "seed": 7}, True),
    (300, {"consumer_mode": "deltat", "mode": "bidirectional", "seed": 3}, True),
    (200, {"terrain_m": 25.0, "t_supply_c": 120.0, "t_return_c": 60.0, "seed": 5}, True),
    (500, {}, False),  # test_convergence
]


def case_tag(n: int, opts: dict) -> str:
    return f"n{n}" + "".join(f"-{k}{v}" for k, v in sorted(opts.items()))


def find_tool() -> Path | None:
    for d in TOOL_CANDIDATES:
        if (d / "pandapipes_bench.py").exists():
            return d / "pandapipes_bench.py"
    return None


def run_tool(tool: Path, n: int, opts: dict, out: Path, results: bool = True) -> tuple[Path, Path | None]:
    """Run the generator for one case; returns the paths of the network and (if asked) the results JSON."""
    tag = case_tag(n, opts)
    net, res = out / f"{tag}.net.json", out / f"{tag}.res.json"
    args = [sys.executable, str(tool), "-n", str(n), "--repeats", "0", "--dump-net", str(net)]
    if results:
        args += ["--dump-results", str(res)]
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    subprocess.run(args, check=True, capture_output=True, timeout=600)
    return net, (res if results else None)


def read_gz(name: str) -> dict:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _write_gz(src: Path, name: str) -> None:
    doc = json.loads(src.read_text())
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    (DATA / name).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))  # same bytes on every run


def write_all(tool: Path) -> None:
    import numpy
    import pandapipes

    DATA.mkdir(parents=True, exist_ok=True)
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, opts, results in CASES:
            net, res = run_tool(tool, n, opts, Path(tmp), results)
            tag = case_tag(n, opts)
            entry = {"tag": tag, "n": n, "opts": opts, "net": f"{tag}.net.json.gz", "results": None}
            _write_gz(net, entry["net"])
            if res is not None:
                entry["results"] = f"{tag}.res.json.gz"
                _write_gz(res, entry["results"])
            entries.append(entry)
            print(f"wrote {tag}")
    manifest = {"generator": tool.name, "generator_sha256": hashlib.sha256(tool.read_bytes()).hexdigest(),
                "pandapipes": pandapipes.__version__, "numpy": numpy.__version__, "cases": entries}
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def differences(a, b, path: str = "", rtol: float = 1e-9) -> list[str]:
    """Where two JSON documents differ (numbers within ``rtol``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}", rtol)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]", rtol)]
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return [] if abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-12 else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def check(tool: Path) -> int:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for e in manifest["cases"]:
            net, res = run_tool(tool, e["n"], e["opts"], Path(tmp), e["results"] is not None)
            diffs = differences(read_gz(e["net"]), json.loads(net.read_text()))
            if res is not None:
                live = json.loads(res.read_text())
                diffs += differences(read_gz(e["results"]), live, rtol=1e-6)
            print(f"{e['tag']}: {'ok' if not diffs else f'{len(diffs)} differences, e.g. {diffs[:3]}'}")
            bad += bool(diffs)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", type=Path, help="path of pandapipes_bench.py (default: ../shared/tools)")
    ap.add_argument("--check", action="store_true", help="compare the shipped fixtures with a live run")
    args = ap.parse_args(argv)
    tool = args.tool or find_tool()
    if tool is None or not tool.exists():
        print("pandapipes_bench.py not found (looked in ../shared/tools); pass --tool", file=sys.stderr)
        return 2
    if args.check:
        return check(tool)
    write_all(tool)
    return 0


if __name__ == "__main__":
    sys.exit(main())

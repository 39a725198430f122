"""Fixtures for the network tests: the shared benchmark generator (../shared/tools/pandapipes_bench.py) is run as
a script (it is not copied into this repository) to write seeded dhnet-bench/1 networks and pandapipes' results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_CANDIDATES = [ROOT.parent / "shared" / "tools", ROOT.parents[1] / "shared" / "tools", Path("/work/shared/tools")]


def bench_tool() -> Path | None:
    for d in _CANDIDATES:
        if (d / "pandapipes_bench.py").exists():
            return d / "pandapipes_bench.py"
    return None


@pytest.fixture(scope="session")
def pandapipes_case(tmp_path_factory):
    """``case(n, **opts) -> (net_doc, result_doc)`` solved by pandapipes (cached per session)."""
    tool = bench_tool()
    if tool is None:
        pytest.skip("../shared/tools/pandapipes_bench.py not found")
    cache: dict = {}
    base = tmp_path_factory.mktemp("ppbench")

    def case(n: int, **opts) -> tuple[dict, dict]:
        key = (n, tuple(sorted(opts.items())))
        if key not in cache:
            tag = f"{n}_" + "_".join(f"{k}{v}" for k, v in sorted(opts.items()))
            net, res = base / f"net_{tag}.json", base / f"res_{tag}.json"
            args = [sys.executable, str(tool), "-n", str(n), "--repeats", "0", "--dump-net", str(net),
                    "--dump-results", str(res)]
            for k, v in opts.items():
                args += [f"--{k.replace('_', '-')}", str(v)]
            subprocess.run(args, check=True, capture_output=True, timeout=300)
            cache[key] = (json.loads(net.read_text()), json.loads(res.read_text()))
        return cache[key]

    return case


@pytest.fixture(scope="session")
def bench_generator():
    """The benchmark generator's ``generate_spec`` (imported from the shared tool, not copied)."""
    tool = bench_tool()
    if tool is None:
        pytest.skip("../shared/tools/pandapipes_bench.py not found")
    sys.path.insert(0, str(tool.parent))
    try:
        import pandapipes_bench
    finally:
        sys.path.remove(str(tool.parent))
    return pandapipes_bench.generate_spec

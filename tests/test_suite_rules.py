"""The suite's own rules (tests/suite_rules.py): browser tests are left out by ``-m "not e2e"``, and a skip fails
under ``CI=true``. Each runs pytest in a subprocess, as ``make test-fast`` and CI do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: for a pytest run outside the repository: ``tests.suite_rules`` importable, the same ``cleanheat``
OUTSIDE = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def _pytest(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER"}}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args],
                          cwd=cwd, env=base | (env or {}), capture_output=True, text=True, timeout=900)


def test_not_e2e_leaves_out_every_browser_test():
    fast = _pytest("--collect-only", "-q", "-m", "not e2e", "tests/e2e",
                   "tests/test_settings.py")
    assert fast.returncode == 0, fast.stdout + fast.stderr
    selected = [line for line in fast.stdout.splitlines() if "::" in line]
    assert selected and all(line.startswith("tests/test_settings.py::") for line in selected)
    deselected = re.search(r"(\d+) deselected", fast.stdout)
    assert deselected and int(deselected.group(1)) >= 10, fast.stdout  # every browser test, none left to run


def test_a_test_using_the_browser_fixture_is_e2e_wherever_it_is(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import pytest\npytest_plugins = ['tests.suite_rules']\n\n"
        "@pytest.fixture\ndef browser():\n    return 'no browser here'\n")
    (tmp_path / "test_x.py").write_text("def test_plain():\n    pass\n\n\ndef test_uses(browser):\n    pass\n")
    r = _pytest("-q", "-m", "not e2e", str(tmp_path), cwd=tmp_path, env=OUTSIDE)
    assert "1 passed, 1 deselected" in r.stdout, r.stdout + r.stderr


def test_a_skip_fails_under_ci(tmp_path):
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['tests.suite_rules']\n")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n\ndef test_needs_a_tool():\n    pytest.skip('pdftotext is not installed')\n\n\n"
        "@pytest.mark.xfail(reason='known', strict=True)\ndef test_known_bug():\n    assert False\n")
    env = OUTSIDE
    local = _pytest("-q", "-rs", str(tmp_path), cwd=tmp_path, env=env)
    assert "1 skipped, 1 xfailed" in local.stdout, local.stdout + local.stderr
    ci = _pytest("-q", str(tmp_path), cwd=tmp_path, env=env | {"CI": "true"})
    assert ci.returncode == 1 and "1 failed, 1 xfailed" in ci.stdout, ci.stdout + ci.stderr
    assert "skipped under CI=true" in ci.stdout and "pdftotext is not installed" in ci.stdout


def test_a_group_stays_on_one_worker_under_loadgroup(tmp_path):
    """``xdist_group`` sends a group's tests to one worker (``make test`` relies on it: one PostgreSQL world of
    the authorisation matrix, one mosquitto per MQTT group)."""
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['tests.suite_rules']\n")
    (tmp_path / "test_x.py").write_text(
        "import os\nimport pytest\n\n\n@pytest.mark.xdist_group('one')\n@pytest.mark.parametrize('i', range(12))\n"
        "def test_grouped(i):\n    print('worker', os.environ['PYTEST_XDIST_WORKER'])\n")
    base = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER"}}
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "3", "--dist", "loadgroup",
                        "-v", str(tmp_path)], cwd=tmp_path, env=base | OUTSIDE, capture_output=True, text=True,
                       timeout=900)
    assert "12 passed" in r.stdout, r.stdout + r.stderr
    workers = set(re.findall(r"\[(gw\d+)\] .*PASSED", r.stdout))
    assert len(workers) == 1 and len(re.findall(r"PASSED test_x.py::test_grouped\[\d+\]@one", r.stdout)) == 12, r.stdout

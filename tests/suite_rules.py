"""Rules of the whole test suite, loaded by tests/conftest.py (``pytest_plugins``).

* Real-browser tests carry the ``e2e`` marker, so ``-m "not e2e"`` (``make test-fast``) leaves them out: every test
  under ``tests/e2e/`` and every test that uses the ``browser`` fixture. (A ``pytestmark`` in a conftest.py has no
  effect: pytest reads it from test modules only.)
* Under ``CI=true`` a skipped test fails: a skip there means a missing dependency (poppler, a browser, a data
  file) that the project's own install steps must provide, and a green run must not hide it. An ``xfail`` stays.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent / "e2e"
BROWSER_FIXTURES = {"browser", "page"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def is_browser_test(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    return path.is_relative_to(E2E_DIR) or bool(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)  # before the -m selection (pytest's own hook of the same name) reads the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_browser_test(item) and item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail") and in_ci():
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true, which counts as a failure (install what is missing): {reason}"

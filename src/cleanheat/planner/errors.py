"""Errors of the planner.

::

    CleanheatError
    ├── InputError
    │   ├── CatalogueError        the option catalogue or building classes are malformed (file/line/field)
    │   ├── AreaDataError         an area file is malformed (file/sheet/row/column)
    │   └── ScenarioError         a scenario file is malformed or refers to unknown things (file/line/field)
    └── PathwaySolveError         HiGHS stopped without an answer (time limit, numerical trouble); carries the
                                  solver status, iterations and residuals

An infeasible scenario is *not* an error: the result has ``status == "infeasible"`` and an explanation.
"""

from __future__ import annotations

from cleanheat.errors import CleanheatError, InputError


class CatalogueError(InputError):
    pass


class AreaDataError(InputError):
    pass


class ScenarioError(InputError):
    pass


class PathwaySolveError(CleanheatError):
    def __init__(self, status: str, *, iterations: int, primal_residual: float, dual_residual: float,
                 run_time_s: float) -> None:
        self.status = status
        self.iterations = iterations
        self.primal_residual = primal_residual
        self.dual_residual = dual_residual
        self.run_time_s = run_time_s
        super().__init__(
            f"HiGHS stopped with status {status!r} after {iterations} iterations ({run_time_s:.1f} s; "
            f"primal residual {primal_residual:.3g}, dual residual {dual_residual:.3g})"
        )

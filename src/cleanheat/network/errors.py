"""Errors of the network area.

::

    CleanheatError
    ├── InputError
    │   └── NetworkInputError        a network file or model is invalid (issues say where)
    └── NetworkSolveError            the solver could not produce a result
        └── NonConvergenceError      iterations ran out; carries the residual history
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cleanheat.errors import CleanheatError, InputError


@dataclass
class NetworkInputError(InputError):
    """A network description is invalid; ``issues`` list every problem with its location."""


class NetworkSolveError(CleanheatError):
    """The network could not be solved (for a reason other than running out of iterations)."""


@dataclass
class NonConvergenceError(NetworkSolveError):
    """The solver ran out of iterations.

    ``stage`` is ``"hydraulic"`` or ``"coupled"``; ``residuals`` is the residual history (one float per
    iteration, in the units given by ``residual_unit``).
    """

    stage: str
    iterations: int
    residuals: list[float] = field(default_factory=list)
    residual_unit: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        last = f"{self.residuals[-1]:.3e} {self.residual_unit}" if self.residuals else "n/a"
        super().__init__(
            f"{self.stage} iteration did not converge after {self.iterations} iterations "
            f"(last residual {last}){': ' + self.detail if self.detail else ''}"
        )

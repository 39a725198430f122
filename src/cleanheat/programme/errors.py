"""Errors of the programme area.

::

    InputError
    ├── PlanDataError        the plan files under data/<city>/ are inconsistent
    └── ReportImportError    a progress report (xlsx/csv/form) is invalid; nothing was imported
    ConflictError
    └── ReportConflictError  e.g. a second report for a period already accepted (use a correction)
"""

from __future__ import annotations

from cleanheat.errors import ConflictError, InputError


class PlanDataError(InputError):
    pass


class ReportImportError(InputError):
    pass


class ReportConflictError(ConflictError):
    pass

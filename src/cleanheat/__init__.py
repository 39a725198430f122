"""cleanheat: one platform for a northern Chinese city's winter clean-heating programme.

Areas (each a subpackage with its own tables, pure core and services):
``programme`` (plan, reports, evaluation), ``assets`` (registry), ``auth`` (users, roles, audit),
``store`` (SQL), ``web`` (FastAPI app), ``cli`` (typer).
"""

__version__ = "0.1.0"

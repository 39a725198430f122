"""Reference data of the emissions area at ``cleanheat init``: the limit table, the validity rules and the HJ 212
code tables are data files (``data/emissions/``) read at run time; loading them here checks them once, so that a
broken table stops ``init`` with its file, row and field instead of surfacing later in the receiver."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cleanheat.config import Settings
from cleanheat.emissions.hj212.codes import read_code_tables
from cleanheat.emissions.limits import limits_path, read_limit_table
from cleanheat.emissions.processing import read_rules

ORDER = 50


def load_reference(session: Session, settings: Settings) -> str:
    table = read_limit_table(limits_path(settings.data_dir))
    rules = read_rules(settings.data_dir)
    codes = read_code_tables(settings.data_dir)
    return (f"{len(table.sets)} limit sets ({', '.join(sorted({s.standard for s in table.sets}))}); "
            f"{len(codes.factors)} flue-gas factor codes ({len(codes.old_to_new)} with 2005 codes); "
            f"{len(codes.commands)} command codes; valid hour >= {rules.hour_min_valid_minutes} min, "
            f"valid day >= {rules.day_min_valid_hours} h")

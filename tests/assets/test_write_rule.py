"""The registry's one write rule (assets.heat_sources.may_write), used by the service and by the pages' buttons."""

import pytest

from cleanheat.assets.heat_sources import may_write
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor


@pytest.mark.parametrize(("role", "org_id", "owner", "expected"), [
    (Role.PROGRAMME_OFFICE, 1, None, True),
    (Role.PROGRAMME_OFFICE, 1, 7, True),
    (Role.ECOLOGY_BUREAU, 2, 7, True),
    (Role.ADMIN, 3, 7, True),
    (Role.HEAT_COMPANY, 7, None, True),   # may write (its own) sources at all: the import button shows
    (Role.HEAT_COMPANY, 7, 7, True),
    (Role.HEAT_COMPANY, 7, 8, False),     # another company's source
    (Role.REPORTING_UNIT, 4, None, False),
    (Role.REPORTING_UNIT, 4, 4, False),
    (Role.RESIDENT, 5, 5, False),
])
def test_one_write_rule_for_the_registry(role, org_id, owner, expected):
    assert may_write(Actor(actor="u", role=role, org_id=org_id), owner) is expected

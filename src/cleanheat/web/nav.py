"""Navigation entries. Each route module may declare ``NAV = [NavItem(...)]``; the app collects them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cleanheat.auth.roles import Role


@dataclass(frozen=True)
class NavItem:
    #: May hold ``{unit}``: the user's administrative unit code (the entry is left out for users without one).
    path: str
    zh: str
    en: str
    order: int = 100
    #: Roles that see the entry; empty means every logged-in user.
    roles: frozenset[Role] = frozenset()
    #: Rarely used entries (administration) go into the "更多 / More" menu when the bar is full.
    secondary: bool = False

    def visible_to(self, role: Role) -> bool:
        return not self.roles or role in self.roles or role == Role.ADMIN

    def for_unit(self, unit_code: str | None) -> NavItem | None:
        """The entry with ``{unit}`` in its path filled in (None when it needs a unit and there is none)."""
        if "{unit}" not in self.path:
            return self
        return replace(self, path=self.path.replace("{unit}", unit_code)) if unit_code else None

"""Navigation entries. Each route module may declare ``NAV = [NavItem(...)]``; the app collects them."""

from __future__ import annotations

from dataclasses import dataclass

from cleanheat.auth.roles import Role


@dataclass(frozen=True)
class NavItem:
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

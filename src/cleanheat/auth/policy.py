"""The password policy: rules as data (``auth/data/password_policy.yaml``), checked by one pure function.

``check_password(policy, password, username)`` returns every rule the password breaks (bilingual messages);
``enforce_password`` raises ``WeakPasswordError`` carrying them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from cleanheat.errors import InputError, InputIssue

DATA_DIR = Path(__file__).parent / "data"
_TRAILING = re.compile(r"[\d\W_]+$")


class WeakPasswordError(InputError):
    """The password breaks the policy; ``issues`` lists each broken rule (field ``password``)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        summary = "; ".join(f"{zh} / {en}" for zh, en in problems)
        super().__init__(summary, [InputIssue(zh, field="password", message_en=en) for zh, en in problems])


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int
    max_length: int
    min_distinct_chars: int
    max_repeat_unit: int
    sequences: tuple[str, ...]
    common: frozenset[str]
    source: str


@functools.cache
def load_policy(path: Path = DATA_DIR / "password_policy.yaml") -> PasswordPolicy:
    """The policy in ``path`` and the common-password list it names (read once per process)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    common_raw = yaml.safe_load((path.parent / raw["common_passwords_file"]).read_text(encoding="utf-8"))
    return PasswordPolicy(
        min_length=int(raw["min_length"]), max_length=int(raw["max_length"]),
        min_distinct_chars=int(raw["min_distinct_chars"]), max_repeat_unit=int(raw["max_repeat_unit"]),
        sequences=tuple(str(s).lower() for s in raw["sequences"]),
        common=frozenset(str(p).lower() for p in common_raw["passwords"]),
        source=str(raw["source"]),
    )


def _is_repetition(p: str, max_unit: int) -> bool:
    """True when ``p`` is one short unit repeated (the last repetition may be cut off: abcabcabca)."""
    return any(p == (p[:n] * (len(p) // n + 1))[:len(p)] for n in range(1, max_unit + 1))


def _is_sequence(p: str, rows: tuple[str, ...]) -> bool:
    return any(p in row or p in row[::-1] for row in rows)


def check_password(policy: PasswordPolicy, password: str, username: str = "") -> list[tuple[str, str]]:
    """Every rule ``password`` breaks, as (Chinese, English) messages; empty when it is acceptable."""
    problems: list[tuple[str, str]] = []
    if len(password) < policy.min_length:
        problems.append((f"密码至少需要 {policy.min_length} 个字符",
                         f"the password needs at least {policy.min_length} characters"))
    if len(password) > policy.max_length:
        problems.append((f"密码不能超过 {policy.max_length} 个字符",
                         f"the password may have at most {policy.max_length} characters"))
    low = password.lower()
    base = _TRAILING.sub("", low)
    if low in policy.common or base in policy.common:
        problems.append(("这是常见密码，很容易被猜中", "this is a common password, easily guessed"))
    if len(set(low)) < policy.min_distinct_chars or _is_repetition(low, policy.max_repeat_unit):
        problems.append(("密码由重复字符组成", "the password is made of repeated characters"))
    elif _is_sequence(low, policy.sequences):
        problems.append(("密码是简单的字符序列（如 1234567890、qwertyuiop）",
                         "the password is a simple sequence (like 1234567890 or qwertyuiop)"))
    name = username.strip().lower()
    if name and (low == name or base == name or low == name[::-1]):
        problems.append(("密码不能与用户名相同", "the password must not be the username"))
    return problems


def enforce_password(password: str, username: str = "", policy: PasswordPolicy | None = None) -> None:
    """Raise ``WeakPasswordError`` listing every rule ``password`` breaks."""
    problems = check_password(policy or load_policy(), password, username)
    if problems:
        raise WeakPasswordError(problems)

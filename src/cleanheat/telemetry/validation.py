"""Validation of raw readings against the registry: every reading is either stored or quarantined with a reason.

``Registry`` is a snapshot of devices, points and ingest tokens (reloaded when an unknown device shows up);
``Validator`` is pure apart from its per-point state (the stuck-value run and the last register value).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import Device, Point
from cleanheat.auth.tables import Organisation
from cleanheat.store.base import utcnow
from cleanheat.telemetry.payload import ParsedMessage
from cleanheat.telemetry.tables import DeviceToken

#: quarantine reason -> (Chinese, English)
REASONS: dict[str, tuple[str, str]] = {
    "malformed": ("报文格式错误", "Malformed message"),
    "auth_failed": ("设备令牌无效", "Invalid or missing device token"),
    "unknown_device": ("未知设备", "Unknown device"),
    "device_retired": ("设备已停用", "Device retired"),
    "unknown_point": ("未知测点", "Unknown point"),
    "non_numeric": ("非数值", "Not a number"),
    "out_of_range": ("超出物理量程", "Outside the physical range"),
    "bad_timestamp": ("时间戳无效", "Invalid timestamp"),
    "future_timestamp": ("时间戳超前", "Timestamp in the future"),
    "too_old": ("时间戳过旧", "Timestamp too far in the past"),
    "stuck_value": ("数值卡死", "Stuck value"),
    "register_decrease": ("累计量倒退", "Cumulative register went down"),
}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PointInfo:
    id: int
    key: str
    min_value: float
    max_value: float
    stuck_after_ms: int | None
    cumulative: bool


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    code: str
    org_id: int
    org_code: str
    kind: str
    active: bool
    points: dict[str, PointInfo]


@dataclass(frozen=True)
class TokenGrant:
    """What a valid ingest token may write: every device of ``org_id``, or only ``device_id``."""

    token_id: int
    org_id: int
    device_id: int | None
    #: when the token expires [ms since the epoch], None: never
    expires_ms: int | None = None

    def expired(self, now_ms: int | None = None) -> bool:
        return self.expires_ms is not None and self.expires_ms <= (now_ms if now_ms is not None
                                                                   else int(time.time() * 1000))

    def allows(self, device: DeviceInfo) -> bool:
        return device.org_id == self.org_id and (self.device_id is None or self.device_id == device.id)


@dataclass
class Registry:
    devices: dict[str, DeviceInfo]
    tokens: dict[str, TokenGrant]
    loaded_at: float = field(default_factory=time.monotonic)

    @classmethod
    def load(cls, session: Session) -> Registry:
        orgs = dict(session.execute(select(Organisation.id, Organisation.code)).all())
        points: dict[int, dict[str, PointInfo]] = {}
        for p in session.execute(select(Point.id, Point.device_id, Point.key, Point.min_value, Point.max_value,
                                        Point.stuck_after_s, Point.cumulative)):
            points.setdefault(p.device_id, {})[p.key] = PointInfo(
                p.id, p.key, p.min_value, p.max_value, p.stuck_after_s * 1000 if p.stuck_after_s else None,
                bool(p.cumulative))
        devices = {}
        for d in session.execute(select(Device.id, Device.code, Device.org_id, Device.kind, Device.status)):
            devices[d.code] = DeviceInfo(d.id, d.code, d.org_id, orgs.get(d.org_id, ""), d.kind,
                                         d.status == "active", points.get(d.id, {}))
        now = utcnow()
        tokens = {}
        for t in session.scalars(select(DeviceToken).where(DeviceToken.revoked.is_(False))):
            if t.expires_at is None or t.expires_at > now:
                tokens[t.token_hash] = TokenGrant(t.id, t.org_id, t.device_id, _ms(t.expires_at))
        return cls(devices=devices, tokens=tokens)

    def grant(self, token: str | None) -> TokenGrant | None:
        """The grant of a token in this snapshot, unless it has expired since (expiry takes effect at once)."""
        g = self.tokens.get(token_digest(token)) if token else None
        return None if g is None or g.expired() else g

    def forget_token(self, token_hash: str) -> None:
        """Drop a token revoked in this process from the snapshot (effective at once)."""
        self.tokens.pop(token_hash, None)


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


def token_still_valid(session: Session, token_id: int) -> bool:
    """Whether the token is, according to the database now, neither revoked nor expired."""
    row = session.execute(select(DeviceToken.revoked, DeviceToken.expires_at)
                          .where(DeviceToken.id == token_id)).first()
    return row is not None and not row.revoked and (row.expires_at is None or row.expires_at > utcnow())


def revoked_among(session: Session, token_ids: Iterable[int]) -> set[int]:
    """Those of ``token_ids`` that are now revoked, expired or gone."""
    ids = set(token_ids)
    if not ids:
        return set()
    now = utcnow()
    valid = {r.id for r in session.execute(select(DeviceToken.id, DeviceToken.revoked, DeviceToken.expires_at)
                                           .where(DeviceToken.id.in_(ids)))
             if not r.revoked and (r.expires_at is None or r.expires_at > now)}
    return ids - valid


def parse_ts_ms(raw: object) -> int:
    """Milliseconds since the epoch of an ISO 8601 time with offset, or of an integer ``ts_ms``."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise TypeError("timestamp missing" if raw is None else f"timestamp {raw!r} is not a string")
    dt = datetime.fromisoformat(raw)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {raw!r} has no UTC offset")
    return int(dt.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    reason: str
    detail: str
    location: str
    device_code: str = ""
    point_key: str = ""
    point_id: int | None = None
    ts_ms: int | None = None
    raw_ts: str = ""
    raw_value: str = ""
    org_id: int | None = None
    payload: str = ""


@dataclass
class Validated:
    """Valid rows ``(point_id, ts_ms, value)`` and quarantined items of one or more messages."""

    rows: list[tuple[int, int, float]] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    #: point_id -> device_id of the rows (availability follows good readings)
    devices_seen: dict[int, int] = field(default_factory=dict)

    def extend(self, other: Validated) -> None:
        self.rows.extend(other.rows)
        self.quarantine.extend(other.quarantine)
        self.devices_seen.update(other.devices_seen)


def _short(v: object) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s[:64]


class Validator:
    """Checks readings; keeps per-point state for stuck values and cumulative registers."""

    def __init__(self, registry: Registry, *, future_tolerance_s: int = 300, max_age_days: int = 400) -> None:
        self.registry = registry
        self.future_tolerance_ms = future_tolerance_s * 1000
        self.max_age_ms = max_age_days * 86_400_000
        #: point_id -> [value, run_start_ms, last_ts_ms]
        self._runs: dict[int, list] = {}
        #: point_id -> (ts_ms, value) of the newest register reading seen
        self._registers: dict[int, tuple[int, float]] = {}

    def validate(self, msg: ParsedMessage, *, location: str, grant: TokenGrant | None = None,
                 trusted: bool = False, topic_org: str | None = None, now_ms: int | None = None) -> Validated:
        """Validate one parsed message. ``trusted``: in-process source, no token needed; otherwise the
        readings' devices must be allowed by ``grant`` (or by the message's own token)."""
        out = Validated()
        q = out.quarantine
        for where, problem in msg.errors:
            q.append(QuarantineItem("malformed", problem, f"{location} {where}"))
        if not msg.readings:
            return out
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        lo, hi = now - self.max_age_ms, now + self.future_tolerance_ms
        if grant is None and not trusted:
            grant = self.registry.grant(msg.token)
        devices = self.registry.devices
        ts_cache: dict[object, int | str] = {}
        rows = out.rows
        runs, registers = self._runs, self._registers
        dev = None
        dev_code = object()
        for code, key, raw_ts, value, where in msg.readings:
            if code != dev_code:
                dev_code = code
                dev = devices.get(code) if code else None
                dev_problem = None
                if dev is None:
                    dev_problem = ("unknown_device", f"no device {code!r}" if code else "no device given")
                elif not trusted and grant is None:
                    dev_problem = ("auth_failed", "invalid token" if msg.token else "missing token")
                elif not trusted and grant.org_id != dev.org_id:  # do not reveal other companies' devices
                    dev_problem = ("unknown_device", f"no device {code!r} for this token")
                elif not trusted and not grant.allows(dev):
                    dev_problem = ("auth_failed", f"the token does not grant device {code!r}")
                elif topic_org is not None and dev.org_code != topic_org:
                    dev_problem = ("unknown_device", f"device {code!r} is not in organisation {topic_org!r}")
                elif not dev.active:
                    dev_problem = ("device_retired", f"device {code!r} is retired")
            if dev_problem is not None:
                # filed under the sender's organisation: the device's own only when the sender may write it
                # (a failed authentication must not land in the named device's company's quarantine)
                if dev is not None and (trusted or (grant is not None and grant.allows(dev))):
                    q_org = dev.org_id
                else:
                    q_org = grant.org_id if grant is not None else None
                q.append(QuarantineItem(dev_problem[0], dev_problem[1], f"{location} {where}", code or "", key,
                                        raw_ts=_short(raw_ts), raw_value=_short(value), org_id=q_org))
                continue
            p = dev.points.get(key)
            if p is None:
                q.append(QuarantineItem("unknown_point", f"device {dev.code!r} has no point {key!r}",
                                        f"{location} {where}", dev.code, key, raw_ts=_short(raw_ts),
                                        raw_value=_short(value), org_id=dev.org_id))
                continue
            ts = ts_cache.get(raw_ts) if not isinstance(raw_ts, tuple) else None
            if ts is None:
                try:
                    ts = parse_ts_ms(raw_ts)
                except (ValueError, TypeError, OverflowError) as exc:
                    ts = str(exc) or "unreadable timestamp"
                if not isinstance(raw_ts, tuple):
                    ts_cache[raw_ts] = ts
            if type(ts) is str:
                q.append(QuarantineItem("bad_timestamp", ts, f"{location} {where}", dev.code, key, p.id,
                                        raw_ts=_short(raw_ts), raw_value=_short(value), org_id=dev.org_id))
                continue
            v = value
            if type(v) is not float:
                if type(v) is int:
                    v = float(v)
                else:
                    q.append(QuarantineItem("non_numeric", f"value {_short(value)} is not a number",
                                            f"{location} {where}", dev.code, key, p.id, ts, _short(raw_ts),
                                            _short(value), dev.org_id))
                    continue
            if not math.isfinite(v):
                q.append(QuarantineItem("non_numeric", f"value {v!r} is not finite", f"{location} {where}",
                                        dev.code, key, p.id, ts, _short(raw_ts), _short(value), dev.org_id))
                continue
            if ts > hi or ts < lo:
                reason = "future_timestamp" if ts > hi else "too_old"
                q.append(QuarantineItem(reason, f"{(ts - now) / 1000:+.0f} s from now", f"{location} {where}",
                                        dev.code, key, p.id, ts, _short(raw_ts), _short(value), dev.org_id))
                continue
            if not (p.min_value <= v <= p.max_value):
                q.append(QuarantineItem("out_of_range", f"{v:g} outside [{p.min_value:g}, {p.max_value:g}]",
                                        f"{location} {where}", dev.code, key, p.id, ts,
                                        _short(raw_ts), _short(value), dev.org_id))
                continue
            if p.cumulative:
                prev = registers.get(p.id)
                if prev is not None and ts > prev[0] and v < prev[1]:
                    q.append(QuarantineItem("register_decrease", f"{v:g} < {prev[1]:g} earlier",
                                            f"{location} {where}", dev.code, key, p.id, ts, _short(raw_ts),
                                            _short(value), dev.org_id))
                    continue
                if prev is None or ts > prev[0]:
                    registers[p.id] = (ts, v)
            elif p.stuck_after_ms is not None:
                run = runs.get(p.id)
                if run is None or v != run[0]:
                    if run is None or ts >= run[2]:
                        runs[p.id] = [v, ts, ts]
                else:
                    run[2] = max(run[2], ts)
                    if ts - run[1] > p.stuck_after_ms:
                        q.append(QuarantineItem("stuck_value",
                                                f"{v:g} unchanged for {(ts - run[1]) / 60000:.0f} min",
                                                f"{location} {where}", dev.code, key, p.id, ts, _short(raw_ts),
                                                _short(value), dev.org_id))
                        continue
            rows.append((p.id, ts, v))
            out.devices_seen[p.id] = dev.id
        return out

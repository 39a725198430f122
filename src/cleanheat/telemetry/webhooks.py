"""Webhooks of the alarms: a company's URLs, the outbox of notifications and their delivery.

Every change of an alarm queues a delivery (an outbox row) for each enabled webhook of the owning company
(:func:`queue_webhooks`); :func:`deliver_webhooks` POSTs the due ones (JSON, signed with HMAC-SHA256) and retries
failures with exponential back-off. A URL must resolve to public addresses only (no blind SSRF into the
installation's network), checked when it is added and again, pinned, at every delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit
from cleanheat.errors import InputError, InputIssue
from cleanheat.store.base import utcnow
from cleanheat.telemetry.tables import Alarm, AlarmRule, Webhook, WebhookDelivery


def alarm_payload(a: Alarm, rule: AlarmRule | None, event: str) -> dict:
    """The JSON a webhook receives: the alarm, when it was first raised and last seen, how often it was raised
    (a condition that comes back re-opens its alarm) and seen."""
    return {"event": event, "alarm_id": a.id, "rule": rule.code if rule else None, "state": a.state,
            "severity": a.severity, "org_id": a.org_id, "device_id": a.device_id, "point_id": a.point_id,
            "station_id": a.station_id, "building_id": a.building_id, "value": a.value,
            "message_zh": a.message_zh, "message_en": a.message_en,
            "raised_at": a.raised_at.isoformat() if a.raised_at else None,
            "last_seen_at": a.last_seen_at.isoformat() if a.last_seen_at else None,
            "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None,
            "times_raised": a.times_raised, "occurrences": a.occurrences}


def queue_webhooks(session: Session, a: Alarm, rule: AlarmRule | None, event: str) -> None:
    for hook in session.scalars(select(Webhook).where(Webhook.org_id == a.org_id, Webhook.enabled.is_(True))):
        session.add(WebhookDelivery(webhook_id=hook.id, alarm_id=a.id, event=event,
                                    payload=alarm_payload(a, rule, event)))


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, link-local (cloud metadata), private, shared, reserved, multicast or unspecified."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve_public(url: str) -> tuple[str, list[str]]:
    """The host of an http(s) URL and its addresses, all of them public; raises ``ValueError`` otherwise.

    A webhook is delivered from inside the installation's network, so an address there (127.0.0.1, 10.x,
    169.254.169.254 ...) would let a company account probe it (blind SSRF)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"host {host!r} cannot be resolved ({exc})") from exc
    addrs = list(dict.fromkeys(info[4][0] for info in infos))
    bad = [a for a in addrs if _blocked(ipaddress.ip_address(a.split("%", 1)[0]))]
    if bad or not addrs:
        raise ValueError(f"host {host!r} is a loopback, link-local or private address ({', '.join(bad)}); "
                         "webhooks go to public addresses only (CLEANHEAT_TELEMETRY_WEBHOOK_ALLOW_PRIVATE)")
    return host, addrs


def add_webhook(session: Session, actor: Actor, url: str, secret: str = "", *,
                allow_private: bool = False) -> Webhook:
    """A webhook of the caller's company. Unless ``allow_private``, the URL must resolve to public addresses
    only (checked again at every delivery)."""
    actor.require_roles(Role.HEAT_COMPANY)
    if not url.startswith(("http://", "https://")):
        raise InputError("webhook URL must be http(s)", [InputIssue("not an http(s) URL", field="url")])
    if not allow_private:
        try:
            resolve_public(url)
        except ValueError as exc:
            raise InputError(f"webhook URL refused: {exc}", [InputIssue(str(exc), field="url")]) from exc
    if actor.org_id is None:
        raise InputError("no organisation", [InputIssue("the caller has no organisation", field="org")])
    hook = Webhook(org_id=actor.org_id, url=url, secret=secret, enabled=True)
    session.add(hook)
    session.flush()
    audit(session, actor, "create", "webhook", hook.id, {"url": url})
    return hook


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(client: httpx.Client, url: str, body: bytes, headers: dict, allow_private: bool) -> httpx.Response:
    if allow_private:
        return client.post(url, content=body, headers=headers)
    try:
        host, addrs = resolve_public(url)
    except ValueError as exc:
        raise _Refused(str(exc)) from exc
    # connect to the address just checked (no second lookup that could answer differently); the host name
    # still goes in the Host header and, for https, in SNI and the certificate check
    pinned = httpx.URL(url).copy_with(host=addrs[0])
    return client.post(pinned, content=body, headers=headers | {"host": httpx.URL(url).netloc.decode()},
                       extensions={"sni_hostname": host})


class _Refused(Exception):
    pass


def deliver_webhooks(session: Session, client: httpx.Client, *, max_attempts: int = 6, limit: int = 100,
                     retry_base_s: float = 10.0, allow_private: bool = False) -> int:
    """POST due deliveries (JSON, ``X-Cleanheat-Signature``); failures retry with exponential back-off.

    Unless ``allow_private``, the URL's host is resolved again and refused when any address is not public."""
    now = utcnow()
    due = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.status == "pending",
                                                             WebhookDelivery.next_attempt_at <= now)
                               .order_by(WebhookDelivery.id).limit(limit)))
    sent = 0
    for d in due:
        hook = session.get(Webhook, d.webhook_id)
        body = json.dumps(d.payload, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", "x-cleanheat-event": d.event}
        if hook.secret:
            headers["x-cleanheat-signature"] = sign(hook.secret, body)
        d.attempts += 1
        try:
            r = _post(client, hook.url, body, headers, allow_private)
            ok, err = 200 <= r.status_code < 300, f"HTTP {r.status_code}"
        except _Refused as exc:
            ok, err = False, f"refused: {exc}"
        except httpx.HTTPError as exc:
            ok, err = False, f"{type(exc).__name__}: {exc}"
        if ok:
            d.status, d.sent_at, d.last_error = "sent", utcnow(), ""
            sent += 1
        else:
            d.last_error = err[:500]
            if d.attempts >= max_attempts:
                d.status = "failed"
            else:
                d.next_attempt_at = utcnow() + timedelta(seconds=retry_base_s * 2 ** (d.attempts - 1))
    return sent

"""The device payload codec (pure: bytes in, data out) and the MQTT topic scheme.

Topic: ``<prefix>/<org_code>/<device_code>/readings`` (prefix ``cleanheat/v1`` by default).

Payload (UTF-8 JSON object; the HTTP batch API accepts the same body). ``ts`` is ISO 8601 *with* a UTC offset
(``2024-01-15T08:00:00+08:00`` or ``...Z``), or ``ts_ms`` gives milliseconds since the epoch (UTC)::

    single    {"token": "chd_...", "ts": "...", "point": "s_supply_temp_c", "value": 61.5}
    snapshot  {"token": "chd_...", "ts": "...", "values": {"s_supply_temp_c": 61.5, "s_return_temp_c": 44.0}}
    batch     {"token": "chd_...", "readings": [<single or snapshot without token>, ...]}

``device`` (a device code) may be given at the top or per item; on MQTT it defaults to the topic's device.
Over MQTT 5 the token may also come as the user property ``token``.

A message that is not a JSON object raises ``PayloadError`` (naming the byte offset). An item that is itself
malformed (not an object, no value) is reported in ``ParsedMessage.errors`` and the other items still count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cleanheat.errors import InputError, InputIssue


class PayloadError(InputError):
    """A message that cannot be read at all (not JSON, not an object, wrong topic)."""


#: One raw reading: (device code, point key, raw ts (str | int | None), raw value, where in the payload).
#: Tuples rather than objects: the hot path handles ~10^5 of them per second.
RawReading = tuple[str | None, str, object, object, str]


@dataclass
class ParsedMessage:
    token: str | None
    readings: list[RawReading] = field(default_factory=list)
    #: (where, message) of items that could not be read
    errors: list[tuple[str, str]] = field(default_factory=list)


def parse_topic(topic: str, prefix: str = "cleanheat/v1") -> tuple[str, str]:
    """``(org_code, device_code)`` of a readings topic."""
    pre = prefix.strip("/") + "/"
    parts = topic[len(pre):].split("/") if topic.startswith(pre) else []
    if len(parts) != 3 or parts[2] != "readings" or not parts[0] or not parts[1]:
        raise PayloadError(f"topic {topic!r} does not match {pre}<org>/<device>/readings",
                           [InputIssue("bad topic", field="topic")])
    return parts[0], parts[1]


def readings_topic(org_code: str, device_code: str, prefix: str = "cleanheat/v1") -> str:
    return f"{prefix.strip('/')}/{org_code}/{device_code}/readings"


def _ts_of(item: dict) -> object:
    ts = item.get("ts")
    if ts is None and "ts_ms" in item:
        v = item["ts_ms"]
        return v if isinstance(v, int) and not isinstance(v, bool) else ("ts_ms", v)
    return ts


def _items(item: dict, device: str | None, where: str, out: list, errors: list) -> None:
    dev = item.get("device", device)
    if dev is not None and not isinstance(dev, str):
        errors.append((f"{where}.device", "device must be a string"))
        return
    ts = _ts_of(item)
    values = item.get("values")
    if values is not None:
        if not isinstance(values, dict):
            errors.append((f"{where}.values", "values must be an object of point: value"))
            return
        out.extend([(dev, key, ts, value, f"{where}.values.{key}") for key, value in values.items()])
        return
    point = item.get("point")
    if not isinstance(point, str) or "value" not in item:
        errors.append((where, "an item needs 'point' and 'value' (or 'values')"))
        return
    out.append((dev, point, ts, item["value"], where))


def parse_payload(data: bytes | str, *, device: str | None = None) -> ParsedMessage:
    """Parse one message (single, snapshot or batch). ``device``: default device code (e.g. from the topic)."""
    try:
        doc = json.loads(data)
    except UnicodeDecodeError as exc:
        raise PayloadError("payload is not UTF-8",
                           [InputIssue(f"not UTF-8 at byte {exc.start}", offset=exc.start)]) from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(f"payload is not JSON: {exc.msg}",
                           [InputIssue(exc.msg, offset=exc.pos, row=exc.lineno, column=str(exc.colno))]) from exc
    if not isinstance(doc, dict):
        raise PayloadError("payload must be a JSON object", [InputIssue(f"got {type(doc).__name__}", offset=0)])
    token = doc.get("token")
    if token is not None and not isinstance(token, str):
        raise PayloadError("token must be a string", [InputIssue("bad token", field="token")])
    msg = ParsedMessage(token=token)
    readings = doc.get("readings")
    if readings is None:
        _items(doc, device, "$", msg.readings, msg.errors)
        return msg
    if not isinstance(readings, list):
        raise PayloadError("readings must be a list", [InputIssue("not a list", field="readings")])
    default_dev = doc.get("device", device)
    for i, item in enumerate(readings):
        where = f"readings[{i}]"
        if not isinstance(item, dict):
            msg.errors.append((where, "item is not an object"))
            continue
        _items(item, default_dev, where, msg.readings, msg.errors)
    return msg


def encode_snapshots(snapshots: list[tuple[str, dict[str, float]]], *, token: str | None = None,
                     device: str | None = None) -> bytes:
    """A batch payload of ``(iso_ts, {point: value})`` snapshots (what the demo city and the benchmarks send)."""
    doc: dict = {}
    if token:
        doc["token"] = token
    if device:
        doc["device"] = device
    doc["readings"] = [{"ts": ts, "values": values} for ts, values in snapshots]
    return json.dumps(doc, separators=(",", ":")).encode()

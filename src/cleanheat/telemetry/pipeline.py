"""The ingest pipeline shared by every transport: parse -> validate -> store, one transaction per batch.

MQTT workers, the HTTP batch API, CSV backfill and the in-process demo city all hand ``Inbound`` messages to
``IngestPipeline.ingest``. Nothing raised by one bad message stops the batch: it is quarantined and counted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine

from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.payload import ParsedMessage, PayloadError, parse_payload, parse_topic
from cleanheat.telemetry.storage import BatchCounts, ensure_partitions, write_validated
from cleanheat.telemetry.validation import (
    QuarantineItem,
    Registry,
    TokenGrant,
    Validated,
    Validator,
    revoked_among,
    token_digest,
    token_still_valid,
)


@dataclass
class Inbound:
    """One message to ingest: raw bytes (``payload``) or an already parsed message (``parsed``)."""

    payload: bytes | None = None
    parsed: ParsedMessage | None = None
    topic: str | None = None
    #: where it came from, for quarantine entries (topic, HTTP request, file)
    location: str = ""
    #: token from outside the payload (MQTT 5 user property)
    token: str | None = None
    #: the grant of an already authenticated sender (HTTP bearer token)
    grant: TokenGrant | None = None
    #: an in-process source (the demo city): no token needed
    trusted: bool = False
    #: the device the transport names (an HTTP URL), if any
    device: str | None = None


@dataclass
class IngestResult:
    counts: BatchCounts
    reasons: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return self.counts.as_dict() | {"quarantine_reasons": dict(self.reasons)}


class IngestPipeline:
    """Parse, validate and store batches. Thread-safe (one batch at a time per pipeline)."""

    REGISTRY_MAX_AGE_S = 30.0
    RELOAD_MIN_INTERVAL_S = 2.0

    def __init__(self, engine: Engine, config: TelemetryConfig | None = None, *, worker: str = "ingest",
                 source: str = "mqtt", require_token: bool | None = None) -> None:
        self.engine = engine
        self.config = config or TelemetryConfig()
        self.worker = worker
        self.source = source
        self.require_token = self.config.mqtt_require_token if require_token is None else require_token
        self._lock = threading.Lock()
        self.registry = self._load_registry()
        self.validator = Validator(self.registry, future_tolerance_s=self.config.future_tolerance_s,
                                   max_age_days=self.config.max_age_days)
        self.totals = BatchCounts()
        self.reasons: Counter = Counter()

    def _load_registry(self) -> Registry:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            return Registry.load(session)

    def reload_registry(self) -> None:
        self.registry = self._load_registry()
        self.validator.registry = self.registry

    def _maybe_reload(self, device_codes: set, tokens: set) -> None:
        age = time.monotonic() - self.registry.loaded_at
        if age > self.REGISTRY_MAX_AGE_S:
            self.reload_registry()
            return
        if age < self.RELOAD_MIN_INTERVAL_S:
            return
        devices = self.registry.devices
        if any(c and c not in devices for c in device_codes) or any(
                token_digest(t) not in self.registry.tokens for t in tokens):
            self.reload_registry()

    def grant_for(self, token: str):
        """The grant of a device token (HTTP ingest): found in the snapshot (reloaded once, at most every
        ``RELOAD_MIN_INTERVAL_S``, for a token issued since it was loaded), then confirmed in the database, so that a
        token revoked by any process, or expired, stops working at once. None: not a valid token."""
        from sqlalchemy.orm import Session

        if not token:
            return None
        grant = self.registry.grant(token)
        if grant is None and time.monotonic() - self.registry.loaded_at > self.RELOAD_MIN_INTERVAL_S:
            self.reload_registry()
            grant = self.registry.grant(token)
        if grant is not None:
            with Session(self.engine) as session:
                if not token_still_valid(session, grant.token_id):
                    self.registry.forget_token(token_digest(token))
                    return None
        return grant

    def _parse(self, msg: Inbound) -> tuple[ParsedMessage | None, str | None, QuarantineItem | None]:
        topic_org = None
        device = msg.device
        if msg.topic is not None:
            try:
                topic_org, device = parse_topic(msg.topic, self.config.mqtt_topic_prefix)
            except PayloadError as exc:
                return None, None, QuarantineItem("malformed", exc.summary, msg.location or msg.topic,
                                                  payload=_text(msg.payload))
        if msg.parsed is not None:
            return msg.parsed, topic_org, None
        try:
            parsed = parse_payload(msg.payload or b"", device=device)
        except PayloadError as exc:
            issue = exc.issues[0] if exc.issues else None
            where = f" offset {issue.offset}" if issue is not None and issue.offset is not None else ""
            return None, None, QuarantineItem("malformed", exc.summary, f"{msg.location}{where}",
                                              device_code=device or "", payload=_text(msg.payload))
        if parsed.token is None and msg.token is not None:
            parsed.token = msg.token
        return parsed, topic_org, None

    def _drop_revoked(self, tokens: set[str]) -> None:
        """Reload the snapshot when a token of this batch was revoked (or expired) since it was loaded, so that
        revocation takes effect at once in every process (one small query per batch that carries tokens)."""
        from sqlalchemy.orm import Session

        ids = {g.token_id for g in (self.registry.grant(t) for t in tokens) if g is not None}
        if not ids:
            return
        with Session(self.engine) as session:
            gone = revoked_among(session, ids)
        if gone:
            self.reload_registry()

    def validate(self, messages: list[Inbound], *, now_ms: int | None = None) -> Validated:
        parsed = [self._parse(m) for m in messages]
        codes = {r[0] for p, _, _ in parsed if p is not None for r in p.readings[:1]}
        tokens = {p.token for p, _, _ in parsed if p is not None and p.token}
        self._maybe_reload(codes, tokens)
        self._drop_revoked(tokens)
        out = Validated()
        for msg, (p, topic_org, bad) in zip(messages, parsed, strict=True):
            if bad is not None:
                out.quarantine.append(bad)
                continue
            trusted = msg.trusted or (not self.require_token and msg.grant is None)
            out.extend(self.validator.validate(p, location=msg.location, grant=msg.grant, trusted=trusted,
                                               topic_org=topic_org, now_ms=now_ms))
        return out

    def ingest(self, messages: list[Inbound], *, now_ms: int | None = None,
               source: str | None = None) -> IngestResult:
        """Validate and store ``messages`` in one transaction; returns what happened to every reading."""
        with self._lock:
            validated = self.validate(messages, now_ms=now_ms)
            if validated.rows:
                ts = [r[1] for r in validated.rows]
                ensure_partitions(self.engine, min(ts), max(ts))
            with self.engine.begin() as conn:
                counts = write_validated(conn, validated, worker=self.worker, source=source or self.source,
                                         messages=len(messages))
            reasons = Counter(q.reason for q in validated.quarantine)
            self.totals.add(counts)
            self.reasons.update(reasons)
            self.last_validated = validated
            return IngestResult(counts, reasons)


def _text(payload: bytes | None) -> str:
    if payload is None:
        return ""
    return payload[:65536].decode("utf-8", errors="replace")

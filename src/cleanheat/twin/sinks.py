"""Where the demo city's readings go: straight into the ingest pipeline (in-process) or to an MQTT broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlparse

from cleanheat.telemetry.payload import ParsedMessage, readings_topic
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline

Sample = tuple[str, int, dict[str, float]]


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def group_by_device(samples: Iterable[Sample]) -> dict[str, list[tuple[int, dict[str, float]]]]:
    out: dict[str, list] = {}
    for code, ts, values in samples:
        out.setdefault(code, []).append((ts, values))
    return out


class InProcessSink:
    """Hands readings to an ``IngestPipeline`` in this process (trusted: no tokens)."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        self.pipeline = pipeline
        self.sent = 0

    def send(self, samples: list[Sample], now_ms: int | None = None) -> None:
        msgs = []
        for code, items in group_by_device(samples).items():
            readings = [(code, key, ts, value, f"twin[{i}].{key}") for i, (ts, values) in enumerate(items)
                        for key, value in values.items()]
            msgs.append(Inbound(parsed=ParsedMessage(token=None, readings=readings), location=f"twin {code}",
                                trusted=True))
            self.sent += len(readings)
        if msgs:
            self.pipeline.ingest(msgs, now_ms=now_ms, source="twin")

    def close(self) -> None:
        pass


def mqtt_client(url: str, client_id: str = "", *, protocol_v5: bool = True):
    """A connected paho client (loop running) for ``mqtt://[user:pass@]host:port``."""
    import paho.mqtt.client as mqtt

    u = urlparse(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if protocol_v5 else mqtt.MQTTv311)
    if u.username:
        client.username_pw_set(u.username, u.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(u.hostname or "127.0.0.1", u.port or 1883, keepalive=30)
    client.loop_start()
    return client


class MqttSink:
    """Publishes each device's readings as one batch message (QoS 1) to its topic, with its token."""

    def __init__(self, url: str, org_code: str, tokens: dict[str, str], *, prefix: str = "cleanheat/v1",
                 client_id: str = "cleanheat-twin", qos: int = 1) -> None:
        self.client = mqtt_client(url, client_id)
        self.org_code, self.tokens, self.prefix, self.qos = org_code, tokens, prefix, qos
        self.sent = 0
        self.messages = 0
        self._pending: list = []
        self._lock = threading.Lock()

    def send(self, samples: list[Sample], now_ms: int | None = None) -> None:
        for code, items in group_by_device(samples).items():
            body: dict = {"token": self.tokens.get(code, self.tokens.get("*", ""))}
            body["readings"] = [{"ts": iso(ts), "values": values} for ts, values in items]
            info = self.client.publish(readings_topic(self.org_code, code, self.prefix),
                                       json.dumps(body, separators=(",", ":")), qos=self.qos)
            self._pending.append(info)
            self.sent += sum(len(v) for _, v in items)
            self.messages += 1
        self.flush(wait=len(self._pending) > 2000)

    def flush(self, wait: bool = True, timeout_s: float = 60.0) -> None:
        """Wait until the broker acknowledged every message (QoS 1 PUBACK)."""
        deadline = time.monotonic() + timeout_s
        keep = []
        for info in self._pending:
            if wait:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                keep.append(info)
        self._pending = keep
        if wait and keep:
            raise TimeoutError(f"{len(keep)} MQTT messages not acknowledged by the broker")

    def close(self) -> None:
        self.flush(wait=True)
        self.client.loop_stop()
        self.client.disconnect()

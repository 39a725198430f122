"""The MQTT ingest worker: QoS 1, persistent session, MQTT 5 shared subscription, acknowledge after commit.

Devices publish to ``<prefix>/<org>/<device>/readings`` (see ``telemetry.payload``). Each worker

* connects with a fixed client id, ``clean_start=False`` and a session expiry, so the broker keeps its
  subscription and queues its messages while it is down;
* subscribes with QoS 1 to ``$share/<group>/<prefix>/+/+/readings`` (several workers split the messages) or to
  the plain filter;
* acknowledges a message (PUBACK, manual acknowledgement) only after the batch holding it is committed: a worker
  killed mid-batch loses nothing (the broker redelivers) and storage, idempotent on (point, timestamp), turns the
  redelivery into counted duplicates, never into double rows.

Malformed messages are quarantined (kept whole) and acknowledged: they never stop the worker.

Retiring a worker id (``retire``): the broker keeps a stopped worker's session for the session expiry and, with a
shared subscription, goes on giving that session its round-robin share of the messages, which wait until the id
connects again. ``retire`` resumes the session, leaves the subscription, ingests everything queued for it
(acknowledging after commit, as the worker does) and disconnects with session expiry 0: the broker forgets the
id and sends its share to the remaining workers. Nothing is lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import Engine

from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline

log = logging.getLogger("cleanheat.telemetry.mqtt")


def topic_filter(config: TelemetryConfig, shared: bool = True) -> str:
    base = f"{config.mqtt_topic_prefix.strip('/')}/+/+/readings"
    return f"$share/{config.mqtt_share_group}/{base}" if shared and config.mqtt_share_group else base


class RetireError(RuntimeError):
    """Retiring a worker id could not finish; the broker keeps the session (nothing is lost), try again."""


@dataclass
class RetireResult:
    client_id: str
    #: whether the broker still had a session for the id (False: nothing was queued, nothing to do)
    session_present: bool
    #: messages ingested from the session's queue
    messages: int


@dataclass
class _Received:
    mid: int
    topic: str
    payload: bytes
    token: str | None


class MqttIngestWorker:
    """Consume readings from the broker into the store until ``stop()``."""

    def __init__(self, engine: Engine, config: TelemetryConfig | None = None, *, client_id: str = "cleanheat-ingest",
                 shared: bool = True, worker: str | None = None) -> None:
        self.config = config or TelemetryConfig()
        self.client_id = client_id
        self.shared = shared
        self.pipeline = IngestPipeline(engine, self.config, worker=worker or client_id, source="mqtt")
        self._queue: queue.Queue[_Received] = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._unsubscribed: dict[int, list] = {}
        self._unsub_done = threading.Condition()
        self._subscribe_on_connect = True
        self.session_present: bool | None = None
        self.disconnect_reason = None
        self.client = None
        self.messages = 0

    # --- MQTT callbacks (network thread) -------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT connect refused: %s", reason_code)
            return
        self.session_present = getattr(flags, "session_present", None)
        if self._subscribe_on_connect:
            client.subscribe(topic_filter(self.config, self.shared), qos=1)
        log.info("MQTT connected (session present: %s)", self.session_present)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self.disconnect_reason = reason_code
        self._disconnected.set()
        if not self._stop.is_set():
            log.warning("MQTT disconnected: %s (reconnecting)", reason_code)

    def _on_message(self, client, userdata, msg) -> None:
        token = None
        props = getattr(msg, "properties", None)
        for k, v in getattr(props, "UserProperty", None) or []:
            if k == "token":
                token = v
        self._queue.put(_Received(msg.mid, msg.topic, msg.payload, token))

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._unsub_done:
            self._unsubscribed[mid] = list(reason_codes)
            self._unsub_done.notify_all()

    # --- lifecycle -----------------------------------------------------------------------------------

    def connect(self, *, reconnect: bool = True) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        url = urlparse(self.config.mqtt_url)
        # reconnect=False (retire): one connection only; the network loop ends with it
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True, reconnect_on_failure=reconnect)
        if url.username:
            client.username_pw_set(url.username, url.password)
        client.on_connect, client.on_disconnect, client.on_message = (self._on_connect, self._on_disconnect,
                                                                     self._on_message)
        client.on_unsubscribe = self._on_unsubscribe
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.mqtt_session_expiry_s
        props.ReceiveMaximum = self.config.mqtt_receive_maximum
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._disconnected.clear()
        client.connect(url.hostname or "127.0.0.1", url.port or 1883, keepalive=30, clean_start=False,
                       properties=props)
        client.loop_start()
        self.client = client
        if not self._connected.wait(15):
            raise ConnectionError(f"no MQTT connection to {self.config.mqtt_url}")

    def run(self, *, until_idle_s: float | None = None, on_batch=None, connection: bool = False) -> None:
        """Process batches until ``stop()`` (or, with ``until_idle_s``, until nothing arrived for that long; with
        ``connection``, also when the connection ends)."""
        if self.client is None:
            self.connect()
        idle_since = time.monotonic()
        max_n = self.config.batch_max_messages
        wait_s = self.config.batch_max_wait_ms / 1000
        while not self._stop.is_set():
            batch: list[_Received] = []
            try:
                batch.append(self._queue.get(timeout=0.2))
            except queue.Empty:
                if connection and self._disconnected.is_set():
                    return
                if until_idle_s is not None and time.monotonic() - idle_since > until_idle_s:
                    return
                continue
            deadline = time.monotonic() + wait_s
            while len(batch) < max_n:
                try:
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            self._process(batch)
            idle_since = time.monotonic()
            if on_batch is not None:
                on_batch(self)

    def _process(self, batch: list[_Received]) -> None:
        msgs = [Inbound(payload=r.payload, topic=r.topic, token=r.token, location=r.topic) for r in batch]
        while True:
            try:
                self.pipeline.ingest(msgs)
                break
            except Exception:
                log.exception("storing a batch failed; retrying in 2 s (messages stay unacknowledged)")
                if self._stop.wait(2.0):
                    return
        for r in batch:  # PUBACK only now that the batch is committed
            self.client.ack(r.mid, 1)
        self.messages += len(batch)

    def stop(self) -> None:
        self._stop.set()

    def retire(self, *, idle_s: float = 5.0, timeout_s: float = 30.0) -> RetireResult:
        """Retire this client id for good: resume its session, leave the subscription, ingest everything queued
        for it, then disconnect with session expiry 0 so that the broker forgets the session.

        The worker with this id must be stopped (a second connection with the same id takes the session over).
        Raises ``RetireError`` when the connection ends early (the session is kept, nothing is lost)."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._subscribe_on_connect = False
        self.connect(reconnect=False)
        present = bool(self.session_present)
        if present:
            # both filters: whichever the worker used (--shared or --no-shared); "no subscription existed" is fine
            filters = list(dict.fromkeys([topic_filter(self.config, True), topic_filter(self.config, False)]))
            rc, mid = self.client.unsubscribe(filters)
            if rc != 0:
                raise RetireError(f"{self.client_id}: UNSUBSCRIBE not sent ({rc})")
            with self._unsub_done:
                if not self._unsub_done.wait_for(lambda: mid in self._unsubscribed or self._disconnected.is_set(),
                                                 timeout_s):
                    raise RetireError(f"{self.client_id}: no UNSUBACK from the broker within {timeout_s:g} s")
            bad = [str(c) for c in self._unsubscribed.get(mid, []) if c.is_failure and c.value != 0x11]
            if bad:
                raise RetireError(f"{self.client_id}: the broker refused to unsubscribe ({', '.join(bad)})")
            # the queued messages keep coming after UNSUBACK: ingest them until none arrived for idle_s
            self.run(until_idle_s=idle_s, connection=True)
        if self._disconnected.is_set():
            raise RetireError(f"{self.client_id}: the connection ended while retiring ({self.disconnect_reason}); "
                              "is a worker with this id still running? Stop it and retire again (the session and "
                              "its messages are kept)")
        self._stop.set()  # the disconnect below is ours
        props = Properties(PacketTypes.DISCONNECT)
        props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        if not self._disconnected.wait(timeout_s):
            raise RetireError(f"{self.client_id}: DISCONNECT did not complete within {timeout_s:g} s")
        self.client.loop_stop()
        self.client = None
        return RetireResult(self.client_id, present, self.messages)

    def close(self) -> None:
        self._stop.set()
        if self.client is not None:
            self.client.loop_stop()
            self.client.disconnect()

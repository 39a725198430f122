"""Telemetry: ingest adapters (MQTT, HTTP, CSV), pure payload parsing, validation, idempotent storage, rollups,
alarms and device availability.

Data flow: transport adapter -> ``payload.parse_*`` (pure) -> ``validation.Validator`` -> ``storage`` (idempotent on
(point, timestamp)) -> ``rollups`` and ``alarms`` (background jobs) -> ``service`` -> web / CLI.
"""

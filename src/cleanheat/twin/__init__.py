"""The demo city: a weather-driven digital twin of a small district-heating system that emits telemetry.

``model`` holds the pure physics (weather compensation, emitters, room temperatures); ``city`` builds a city
(spec and registry records); ``sim`` turns weather and faults into readings at any time (a pure function of time,
so a replay yields the same values); ``sinks`` deliver them in-process or over MQTT; ``demo`` loads the demo city.
"""

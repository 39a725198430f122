"""Run the demo city: step through time, send each step's readings to a sink, optionally run the jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cleanheat.twin.sim import CitySim


@dataclass
class RunStats:
    steps: int = 0
    readings: int = 0
    messages: int = 0
    wall_s: float = 0.0


def run_city(sim: CitySim, sink, start_ms: int, end_ms: int, *, step_ms: int = 60_000,
             speed: float | None = None, on_step: Callable[[int], None] | None = None,
             progress: Callable[[int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> RunStats:
    """Send the readings of [start_ms, end_ms) step by step.

    ``speed``: simulated seconds per wall-clock second (``None``: as fast as possible; 1: real time).
    ``on_step(now_ms)`` runs after each step (e.g. rollups and alarms at the simulated time).
    """
    stats = RunStats()
    t_wall0 = time.monotonic()
    t = start_ms
    while t < end_ms:
        if should_stop is not None and should_stop():
            break
        t_next = min(t + step_ms, end_ms)
        samples = sim.samples(t, t_next)
        sink.send(samples, now_ms=t_next)
        stats.readings += sum(len(v) for _, _, v in samples)
        stats.messages += len({s[0] for s in samples})
        stats.steps += 1
        if on_step is not None:
            on_step(t_next)
        if progress is not None:
            progress(t_next - t)
        if speed:
            due = t_wall0 + (t_next - start_ms) / 1000 / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        t = t_next
    stats.wall_s = time.monotonic() - t_wall0
    return stats

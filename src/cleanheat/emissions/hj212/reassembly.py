"""Reassembling split packets (Flag D=1 with PNUM/PNO; HJ 212-2017 §6.4, Tables C.49/C.50). Pure.

The parts of one message share MN, CN and PNUM (each part has its own QN). When every PNO 1..PNUM has arrived,
:meth:`SplitAssembler.add` returns one packet whose data area is the parts' items in PNO order (plain fields such
as ``DataTime`` kept once), with the split bit cleared and PNUM/PNO removed. Parts that do not complete within
``timeout_s`` are handed back by :meth:`expire` so that the caller can keep them as an incomplete message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from cleanheat.emissions.hj212.codec import FLAG_SPLIT, Item, Packet


@dataclass
class _Pending:
    first_seen: float
    parts: dict[int, Packet] = field(default_factory=dict)


class SplitAssembler:
    def __init__(self, timeout_s: float = 120.0, max_pending: int = 64) -> None:
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: dict[tuple[str, str, int], _Pending] = {}

    def add(self, packet: Packet, now: float) -> Packet | None:
        """Add a part; returns the reassembled packet when complete, else None. Non-split packets pass through."""
        if not packet.is_split or packet.pnum is None or packet.pno is None:
            return packet
        if packet.pnum == 1:
            return merge_parts([packet])
        key = (packet.mn, packet.cn, packet.pnum)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(first_seen=now)
        pending.parts[packet.pno] = packet
        if len(pending.parts) == packet.pnum:
            del self._pending[key]
            return merge_parts([pending.parts[i] for i in sorted(pending.parts)])
        return None

    def expire(self, now: float, *, everything: bool = False) -> list[list[Packet]]:
        """Incomplete messages older than ``timeout_s`` (or all of them), removed from the assembler."""
        out = []
        overflow = len(self._pending) - self.max_pending
        for key, pending in sorted(self._pending.items(), key=lambda kv: kv[1].first_seen):
            if everything or now - pending.first_seen > self.timeout_s or overflow > 0:
                out.append([pending.parts[i] for i in sorted(pending.parts)])
                del self._pending[key]
                overflow -= 1
        return out

    @property
    def pending(self) -> int:
        return len(self._pending)


def merge_parts(parts: list[Packet]) -> Packet:
    """One packet from the parts of a split message (in PNO order)."""
    first = parts[0]
    items: list[Item] = []
    seen_plain: set[tuple[str, str]] = set()
    for p in parts:
        for item in p.cp_items:
            if all("-" not in n for n, _ in item):
                if item in seen_plain:
                    continue
                seen_plain.add(item)
            items.append(item)
    flag = (first.flag or 0) & ~FLAG_SPLIT
    merged = first.with_header(Flag=flag, PNUM=None, PNO=None)
    warnings = tuple(w for p in parts for w in p.warnings)
    return replace(merged, cp_items=tuple(items), warnings=warnings)

"""HJ 212 (2005 / 2017 / 2025): a pure codec, a stream de-framer, split-packet reassembly, and an asyncio
receiver with an injectable transport (``server``).

Public API::

    parse_frame(frame, crc="hj212") -> Packet        # raises HJ212Error(reason, message, offset, field)
    build_packet(st=, cn=, pw=, mn=, flag=, cp=) -> bytes
    encode(packet) -> bytes;  make_packet(...) -> Packet
    Deframer().feed(chunk) -> [Frame | Junk];  SplitAssembler().add(packet, now)
    crc16_hj212(data), crc16_modbus(data)
"""

from cleanheat.emissions.errors import HJ212Error
from cleanheat.emissions.hj212.codec import (
    Packet,
    build_packet,
    check_crc,
    data_answer,
    encode,
    make_packet,
    map_codes,
    parse_frame,
    parse_number,
    parse_time,
    split_packet,
)
from cleanheat.emissions.hj212.crc import crc16_hj212, crc16_modbus
from cleanheat.emissions.hj212.deframer import Deframer, Frame, Junk
from cleanheat.emissions.hj212.reassembly import SplitAssembler, merge_parts

__all__ = [
    "Deframer", "Frame", "HJ212Error", "Junk", "Packet", "SplitAssembler", "build_packet", "check_crc",
    "crc16_hj212", "crc16_modbus", "data_answer", "encode", "make_packet", "map_codes", "merge_parts",
    "parse_frame", "parse_number", "parse_time", "split_packet",
]

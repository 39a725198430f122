"""Errors of the network registry (networks, stations, buildings, households, devices, points)."""

from __future__ import annotations

from cleanheat.errors import InputError


class AssetImportError(InputError):
    """An asset import was refused; ``issues`` name the sheet/file, row and column of every problem."""

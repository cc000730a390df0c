"""The NULL driver: ``SQLServer`` empty (conquest-storage.md §3.5).

Every statement succeeds and every query answers nothing; objects are still written
to the MAG devices but cannot be found or retrieved.
"""
from __future__ import annotations

from .driver import Driver


class NullDriver(Driver):
    label = "NULL driver (black hole)"
    kind = "null"

    def _run(self, sql, params, fetch):
        return [] if fetch else 0

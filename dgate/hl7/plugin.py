"""Plug-in module (listed in :mod:`dgate.hub.plugins`): a ``*.hl7`` file given to
AddImageFile or dropped in an incoming folder goes into the modality worklist
(:func:`~dgate.hl7.importer.add_hl7_file`, as 1.5.0e's ``AddImageFile``), through
:data:`dgate.store.dropped.FILE_HANDLERS`. A malformed file is set aside at once
(:class:`~dgate.store.dropped.SetAside`: retrying cannot help).
"""
from __future__ import annotations

from pathlib import Path

from ..db import Database
from ..store.dropped import FILE_HANDLERS, SetAside
from .importer import add_hl7_file
from .parser import HL7Error


def dropped_hl7_file(path: Path, db: Database, logs) -> None:
    """The ``.hl7`` entry of :data:`FILE_HANDLERS`."""
    try:
        add_hl7_file(path, db, logs)
    except HL7Error as exc:
        raise SetAside(f"***[AddImageFile] HL7 file -FAILED: {exc}") from exc


FILE_HANDLERS[".hl7"] = dropped_hl7_file

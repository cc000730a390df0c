"""HL7 v2 orders into the modality worklist (conquest-storage.md §7).

* :mod:`.parser`   – messages as Conquest's item stream (``SEG.N``, ``.DATE``/``.TIME``, parts)
* :mod:`.importer` – items → worklist rows through the 7th column of dicom.sql
* :mod:`.mllp`     – the MLLP listener (HL7Port) answering ACK/NAK

Sits just above :mod:`dgate.db` in the layer order.
"""
from .importer import ImportResult, add_hl7_file, import_file, import_text
from .parser import HL7Error, parse

__all__ = ["HL7Error", "ImportResult", "add_hl7_file", "import_file", "import_text", "parse"]

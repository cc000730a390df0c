"""The Conquest database: schema from dicom.sql, drivers behind one interface.

* :mod:`.schema`   – tables and the original's DDL
* :mod:`.driver`   – driver interface and selection (:mod:`.sqlite`, :mod:`.null`)
* :mod:`.values`   – element values as stored and returned
* :mod:`.store`    – SaveToDataBase rules
* :mod:`.query`    – C-FIND → SQL; :mod:`.worklist` – modality worklist
* :mod:`.database` – :class:`Database`, the interface the rest of dgate uses
* :mod:`.regen`    – rebuilding the index from the files on the devices
"""
from .database import Database, StoredFile, open_database
from .driver import DatabaseError, DuplicateKey
from .store import StoreRefused

__all__ = ["Database", "StoredFile", "open_database", "DatabaseError", "DuplicateKey", "StoreRefused"]

"""dBase III ``.DBF`` files as Conquest's built-in driver writes them (conquest-storage.md §3.4).

32-byte header: ``0x03``, last update YY MM DD, uint32 record count, uint16 header length
``(nfields+1)*32+1``, uint16 record length ``1+Σ lengths``, zeros, uint32 update counter at
16; then 32-byte field descriptors (name NUL-padded to 11, type ``C``, 4 zeros, length,
decimals, 14 zeros), ``0x0D``, the records (flag ``' '`` live / ``'*'`` deleted, then the
fields left-justified and space-padded) and ``0x1A`` at the end.

One :class:`DbfTable` per file and process (:func:`table`), guarded by a lock, with an
in-memory index of the key, the patient-ID field and the link to the parent table.
"""
from __future__ import annotations

import os
import struct
import threading
import time
from pathlib import Path

_tables: dict[str, "DbfTable"] = {}
_tables_lock = threading.Lock()
PATIENT_FIELDS = ("PATIENTID", "STUDYPAT", "IMAGEPAT", "SERIESPAT")


class DbfTable:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock = threading.RLock()
        self.fields: list[tuple[str, int]] = []
        self.records: list[list[str] | None] = []    # None = deleted
        self.counter = 0
        self._indexes: dict[int, dict[str, set[int]]] = {}
        if self.path.exists():
            self._read()

    # -- file I/O ------------------------------------------------------------------------
    def _read(self) -> None:
        data = self.path.read_bytes()
        if len(data) < 33 or data[0] != 0x03:
            raise ValueError(f"{self.path} is not a dBase III file")
        count, header_len, record_len = struct.unpack_from("<IHH", data, 4)
        self.counter = struct.unpack_from("<I", data, 16)[0]
        self.fields = []
        pos = 32
        while pos < header_len - 1 and data[pos] != 0x0D:
            name = data[pos:pos + 11].split(b"\0", 1)[0].decode("latin-1")
            self.fields.append((name, data[pos + 16]))
            pos += 32
        self.records = []
        offset = header_len
        for _ in range(count):
            raw = data[offset:offset + record_len]
            offset += record_len
            if len(raw) < record_len:
                break
            if raw[:1] == b"*":
                self.records.append(None)
                continue
            values, at = [], 1
            for _name, length in self.fields:
                values.append(raw[at:at + length].decode("latin-1").rstrip(" "))
                at += length
            self.records.append(values)
        self._indexes = {}

    def _header(self) -> bytes:
        now = time.localtime()
        record_len = 1 + sum(length for _, length in self.fields)
        header_len = (len(self.fields) + 1) * 32 + 1
        head = struct.pack("<BBBBIHH", 0x03, now.tm_year % 100, now.tm_mon, now.tm_mday,
                           len(self.records), header_len, record_len) + b"\0" * 4 + \
            struct.pack("<I", self.counter) + b"\0" * 12
        for name, length in self.fields:
            head += name.encode("latin-1")[:10].ljust(11, b"\0") + b"C" + b"\0" * 4 + \
                bytes([length, 0]) + b"\0" * 14
        return head + b"\x0d"

    def _record(self, values: list[str] | None) -> bytes:
        if values is None:
            return b"*" + b"".join(b" " * length for _, length in self.fields)
        return b" " + b"".join(v.encode("latin-1", "replace")[:length].ljust(length, b" ")
                               for v, (_, length) in zip(values, self.fields))

    def save(self) -> None:
        """Write the whole file through a temporary name and a rename."""
        self.counter += 1
        tmp = self.path.with_name(self.path.name + ".new")
        with open(tmp, "wb") as handle:
            handle.write(self._header())
            for values in self.records:
                handle.write(self._record(values))
            handle.write(b"\x1a")
        os.replace(tmp, self.path)

    def append_one(self, values: list[str]) -> None:
        """Append a record in place (header count updated), without rewriting the file."""
        if not self.path.exists():
            self.records.append(values)
            self.save()
            return
        record_len = 1 + sum(length for _, length in self.fields)
        header_len = (len(self.fields) + 1) * 32 + 1
        index = len(self.records)
        self.records.append(values)
        with open(self.path, "r+b") as handle:
            handle.seek(header_len + index * record_len)
            handle.write(self._record(values) + b"\x1a")
            handle.seek(4)
            handle.write(struct.pack("<I", len(self.records)))
        self._index_add(index, values)

    def rewrite_one(self, index: int) -> None:
        record_len = 1 + sum(length for _, length in self.fields)
        header_len = (len(self.fields) + 1) * 32 + 1
        with open(self.path, "r+b") as handle:
            handle.seek(header_len + index * record_len)
            handle.write(self._record(self.records[index]))

    # -- structure -----------------------------------------------------------------------
    def create(self, fields: list[tuple[str, int]]) -> None:
        """``CreateTable``: (re)create the file empty with these fields."""
        self.fields = [(name.upper()[:10], min(max(length, 1), 255)) for name, length in fields]
        self.records = []
        self._indexes = {}
        self.save()

    def field_index(self, column: str) -> int | None:
        name = column.upper()[:10]
        for i, (field, _) in enumerate(self.fields):
            if field == name:
                return i
        if name in PATIENT_FIELDS:
            for i, (field, _) in enumerate(self.fields):
                if field in PATIENT_FIELDS:
                    return i
        return None

    def pack(self) -> int:
        """Remove deleted records; returns how many were removed."""
        before = len(self.records)
        self.records = [r for r in self.records if r is not None]
        self._indexes = {}
        self.save()
        return before - len(self.records)

    # -- index (first field and patient field, case-insensitive) ----------------------------
    def indexed_fields(self) -> list[int]:
        """The key (first field), the patient-ID field and the link to the parent table
        (the field before ACCESSTIME in Conquest's layout)."""
        found = [0] if self.fields else []
        for i, (name, _) in enumerate(self.fields):
            if name in PATIENT_FIELDS and i not in found:
                found.append(i)
                break
        for i, (name, _) in enumerate(self.fields):
            if name == "ACCESSTIME" and i > 1 and i - 1 not in found:
                found.append(i - 1)
        return found

    def index(self, field: int) -> dict[str, set[int]] | None:
        if field not in self.indexed_fields():
            return None
        if field not in self._indexes:
            built: dict[str, set[int]] = {}
            for n, values in enumerate(self.records):
                if values is not None:
                    built.setdefault(values[field].lower(), set()).add(n)
            self._indexes[field] = built
        return self._indexes[field]

    def _index_add(self, n: int, values: list[str]) -> None:
        for field, index in self._indexes.items():
            index.setdefault(values[field].lower(), set()).add(n)

    def reindex(self) -> None:
        self._indexes = {}


def table(directory: str, name: str) -> DbfTable:
    """The process-wide table object for ``<directory><name>.DBF``."""
    path = Path(directory) / f"{name}.DBF"
    for candidate in (path, Path(directory) / f"{name}.dbf"):
        if candidate.exists():
            path = candidate
            break
    key = str(path.resolve())
    with _tables_lock:
        found = _tables.get(key)
        if found is None or (not path.exists() and found.records):
            found = DbfTable(path)
            _tables[key] = found
        return found

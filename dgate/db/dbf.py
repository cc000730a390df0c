"""dBase III ``.DBF`` files as Conquest's built-in driver writes them (conquest-storage.md §3.4).

32-byte header: ``0x03``, last update YY MM DD, uint32 record count, uint16 header length
``(nfields+1)*32+1``, uint16 record length ``1+Σ lengths``, zeros, uint32 update counter at
16; then 32-byte field descriptors (name NUL-padded to 11, type ``C``, 4 zeros, length,
decimals, 14 zeros), ``0x0D``, the records (flag ``' '`` live / ``'*'`` deleted, then the
fields left-justified and space-padded) and ``0x1A`` at the end.

One :class:`DbfTable` per file and process (:func:`table`), guarded by a lock, with an
in-memory index of the key, the patient-ID field and the link to the parent table.

As the original's driver: a deleted record keeps its content behind the ``*`` flag (dBase
recall tools rely on it) until a pack; the update counter at offset 16 counts every record
write (0 for a new file, +1 per insert, update and delete, +2 per pack) and is written with
the record count; new files are created with mode 0600 (they hold patient data).
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
        self.deleted: dict[int, list[str]] = {}      # content kept behind the '*' flag
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
        self.counter, old_counter = struct.unpack_from("<I", data, 16)[0], struct.unpack_from("<I", data, 28)[0]
        if old_counter:                          # dBase III's place for it: moved, as the original does
            self.counter = old_counter
        self.fields = []
        pos = 32
        while pos < header_len - 1 and data[pos] != 0x0D:
            name = data[pos:pos + 11].split(b"\0", 1)[0].decode("latin-1")
            self.fields.append((name, data[pos + 16]))
            pos += 32
        self.records = []
        self.deleted = {}
        offset = header_len
        for _ in range(count):
            raw = data[offset:offset + record_len]
            offset += record_len
            if len(raw) < record_len:
                break
            values, at = [], 1
            for _name, length in self.fields:
                values.append(raw[at:at + length].decode("latin-1").rstrip(" "))
                at += length
            if raw[:1] == b"*":
                self.deleted[len(self.records)] = values
                self.records.append(None)
                continue
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

    def _record(self, index: int) -> bytes:
        values = self.records[index]
        flag = b" "
        if values is None:
            flag, values = b"*", self.deleted.get(index, [""] * len(self.fields))
        return flag + b"".join(v.encode("latin-1", "replace")[:length].ljust(length, b" ")
                               for v, (_, length) in zip(values, self.fields))

    def save(self) -> None:
        """Write the whole file through a temporary name and a rename (mode 0600 for a new
        file, the old file's mode otherwise)."""
        tmp = self.path.with_name(self.path.name + ".new")
        try:
            mode = os.stat(self.path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o600
        handle_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(handle_fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(self._header())
            for index in range(len(self.records)):
                handle.write(self._record(index))
            handle.write(b"\x1a")
        os.replace(tmp, self.path)

    def _write_counts(self, handle) -> None:
        """Header fields every record write updates: date, record count, update counter."""
        now = time.localtime()
        handle.seek(1)
        handle.write(struct.pack("<BBBI", now.tm_year % 100, now.tm_mon, now.tm_mday, len(self.records)))
        handle.seek(16)
        handle.write(struct.pack("<I", self.counter))
        handle.seek(28)
        handle.write(b"\0\0\0\0")                 # the old place of the counter, moved to 16

    def append_one(self, values: list[str]) -> None:
        """Append a record in place (header count updated), without rewriting the file."""
        if not self.path.exists():
            self.records.append(values)
            self.counter += 1
            self.save()
            return
        record_len = 1 + sum(length for _, length in self.fields)
        header_len = (len(self.fields) + 1) * 32 + 1
        index = len(self.records)
        self.records.append(values)
        self.counter += 1
        with open(self.path, "r+b") as handle:
            handle.seek(header_len + index * record_len)
            handle.write(self._record(index) + b"\x1a")
            self._write_counts(handle)
        self._index_add(index, values)

    def rewrite_one(self, index: int) -> None:
        record_len = 1 + sum(length for _, length in self.fields)
        header_len = (len(self.fields) + 1) * 32 + 1
        self.counter += 1
        with open(self.path, "r+b") as handle:
            handle.seek(header_len + index * record_len)
            handle.write(self._record(index))
            self._write_counts(handle)

    def delete(self, index: int) -> None:
        """Mark a record deleted (``*``), keeping its content, and write it."""
        values = self.records[index]
        if values is not None:
            self.deleted[index] = values
            self.records[index] = None
        self.rewrite_one(index)

    # -- structure -----------------------------------------------------------------------
    def create(self, fields: list[tuple[str, int]]) -> None:
        """``CreateTable``: (re)create the file empty with these fields."""
        self.fields = [(name.upper()[:10], min(max(length, 1), 255)) for name, length in fields]
        self.records = []
        self.deleted = {}
        self.counter = 0
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
        self.deleted = {}
        self._indexes = {}
        self.counter += 2                        # the original truncates twice while packing
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

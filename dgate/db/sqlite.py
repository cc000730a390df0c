"""The built-in SQLite driver (``SQLite = 1``; conquest-storage.md §3.1).

Text values are bound as their bytes (``CAST(? AS TEXT)`` on a BLOB parameter) and read
back byte for byte, so a database written by dgate 1.5.0e, which stores raw element
bytes, reads and matches identically. ``SQLiteStartup`` (default
``PRAGMA synchronous = OFF``) runs after opening; busy databases are waited for up to
60 s, as the original retries ``SQLITE_BUSY``.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from .driver import DatabaseError, Driver, DuplicateKey


def _bind(value: Any) -> Any:
    """Text goes in as its bytes; callers must use ``text_param`` for text values."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("latin-1", "replace")
    return value


class SQLiteDriver(Driver):
    label = "built-in SQLite driver"
    kind = "sqlite"
    text_param = "CAST(? AS TEXT)"

    def __init__(self, path: str, startup: str = ""):
        self.path = path
        parent = Path(path).parent
        if not parent.exists():
            raise DatabaseError(f"***Unable to open database {path}: folder {parent} does not exist")
        try:
            self.conn = sqlite3.connect(path, timeout=60, isolation_level=None,
                                        check_same_thread=False)
        except sqlite3.Error as exc:
            raise DatabaseError(f"***Unable to open database {path}: {exc}") from exc
        self.conn.text_factory = lambda raw: raw.decode("latin-1")
        self._lock = threading.RLock()
        self._depth = 0
        for statement in filter(None, (s.strip() for s in startup.split(";"))):
            self.execute(statement)

    def _run(self, sql: str, params: Sequence[Any], fetch: bool):
        with self._lock:
            try:
                cur = self.conn.execute(sql, [_bind(p) for p in params])
                return cur.fetchall() if fetch else cur.rowcount
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey(str(exc)) from exc
            except sqlite3.Error as exc:
                raise DatabaseError(f"{exc} in: {sql}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

"""The built-in SQLite driver (``SQLite = 1``; conquest-storage.md §3.1).

Text values are bound as their bytes (``CAST(? AS TEXT)`` on a BLOB parameter) and read
back byte for byte, so a database written by dgate 1.5.0e, which stores raw element
bytes, reads and matches identically. ``SQLiteStartup`` (default
``PRAGMA synchronous = OFF``) runs after opening; busy databases are waited for up to
60 s, as the original retries ``SQLITE_BUSY``.

For many associations at once (ours, not the original's):

* the database is switched to WAL journaling (``PRAGMA journal_mode = WAL``, kept in the
  file), so C-FIND readers and one writer work at the same time; SQLite 3.7 and later,
  and so the original dgate, open such a file as usual (``SQLiteStartup = PRAGMA
  journal_mode = DELETE`` switches back);
* writers queue on an exclusive ``flock`` of ``<database>-dgate.lck`` before ``BEGIN
  IMMEDIATE`` (and around single write statements), so they wait in the kernel and are
  woken at once, instead of SQLite's sleep-and-retry busy handler (up to 100 ms a turn);
* statements are prepared once per connection (the sqlite3 module's statement cache).
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from .driver import DatabaseError, Driver, DuplicateKey

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


def _bind(value: Any) -> Any:
    """Text goes in as its bytes; callers must use ``text_param`` for text values."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("latin-1", "replace")
    return value


class SQLiteDriver(Driver):
    label = "built-in SQLite driver"
    kind = "sqlite"
    text_param = "CAST(? AS TEXT)"

    def __init__(self, path: str, startup: str = "", wal: bool = True):
        self.path = path
        parent = Path(path).parent
        if not parent.exists():
            raise DatabaseError(f"***Unable to open database {path}: folder {parent} does not exist")
        try:
            self.conn = sqlite3.connect(path, timeout=60, isolation_level=None,
                                        check_same_thread=False, cached_statements=256)
        except sqlite3.Error as exc:
            raise DatabaseError(f"***Unable to open database {path}: {exc}") from exc
        self.conn.text_factory = lambda raw: raw.decode("latin-1")
        self._lock = threading.RLock()
        self._depth = 0
        self._lock_fd = -1
        try:
            self._lock_fd = os.open(path + "-dgate.lck", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            self._lock_fd = -1      # read-only folder: fall back to SQLite's busy handler
        if wal:
            try:
                self.conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.Error:
                pass                # another process holds it in a transaction; stay as it is
        for statement in filter(None, (s.strip() for s in startup.split(";"))):
            self.execute(statement)

    @contextmanager
    def _writer(self) -> Iterator[None]:
        if self._lock_fd < 0:
            yield
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _run(self, sql: str, params: Sequence[Any], fetch: bool):
        with self._lock:
            if self._depth == 0 and sql.lstrip()[:7].upper().startswith(_WRITES):
                with self._writer():
                    return self._execute(sql, params, fetch)
            return self._execute(sql, params, fetch)

    def _execute(self, sql: str, params: Sequence[Any], fetch: bool):
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
            if not outer:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with self._writer():
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise DatabaseError(f"{exc} in: BEGIN IMMEDIATE") from exc
                self._depth = 1
                try:
                    yield
                except BaseException:
                    self._depth = 0
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    raise
                self._depth = 0
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    try:
                        self.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    raise DatabaseError(f"{exc} in: COMMIT") from exc

    def close(self) -> None:
        """Close (waits for a statement another thread is running on this connection)."""
        with self._lock:
            self.conn.close()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

"""ODBC data sources through pyodbc and unixODBC (``SQLServer`` = DSN; conquest-storage.md §3.1).

The DSN is defined in odbc.ini (``ODBCINI``); ``Username``/``Password`` are passed as
UID/PWD. The dialect details (backslash in LIKE) follow the DBMS the DSN reaches.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..config.keys import Settings
from .driver import DatabaseError, Driver, DuplicateKey


class ODBCDriver(Driver):
    label = "ODBC connection"
    kind = "odbc"

    def __init__(self, settings: Settings):
        try:
            import pyodbc
        except ImportError as exc:
            raise DatabaseError(f"ODBC needs unixODBC (libodbc) installed: {exc}") from exc
        self._pyodbc = pyodbc
        dsn = settings.str("SQLServer")
        try:
            self.conn = pyodbc.connect(f"DSN={dsn};UID={settings.str('Username')};PWD={settings.str('Password')}",
                                       autocommit=True, timeout=10)
        except pyodbc.Error as exc:
            raise DatabaseError(f"***Failed to connect to ODBC data source '{dsn}': {exc}") from exc
        self.dbms = (self.conn.getinfo(pyodbc.SQL_DBMS_NAME) or "").lower()
        self._adopt_dialect()
        self._lock = threading.RLock()

    def _adopt_dialect(self) -> None:
        """Take LIKE, equality and sort rules from the native driver of the same DBMS."""
        import types

        from .mysql import MySQLDriver
        from .postgres import PostgresDriver
        dialect = PostgresDriver if "postgres" in self.dbms else \
            MySQLDriver if ("mysql" in self.dbms or "mariadb" in self.dbms) else None
        if dialect is None:
            return
        for name in ("like_op", "like_escape", "backslash_escapes_like"):
            setattr(self, name, getattr(dialect, name))
        for name in ("exact", "numeric", "sort_key"):
            setattr(self, name, types.MethodType(getattr(dialect, name), self))

    def _run(self, sql: str, params: Sequence[Any], fetch: bool):
        pyodbc = self._pyodbc
        with self._lock:
            try:
                cur = self.conn.cursor()
                cur.execute(sql, *params)
                result = [tuple(row) for row in cur.fetchall()] if fetch else cur.rowcount
                cur.close()
                return result
            except pyodbc.IntegrityError as exc:
                raise DuplicateKey(str(exc)) from exc
            except pyodbc.Error as exc:
                raise DatabaseError(f"{exc} in: {sql}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self.conn.autocommit = False
            try:
                yield
            except BaseException:
                self.conn.rollback()
                self.conn.autocommit = True
                raise
            self.conn.commit()
            self.conn.autocommit = True

    def close(self) -> None:
        try:
            self.conn.close()
        except self._pyodbc.Error:
            pass

"""MySQL and MariaDB through pymysql (``MySQL = 1``; conquest-storage.md §3.1).

``SQLServer`` is the database, ``SQLHost`` ``host[:port]`` (default port 3306), then
``MySQLStartup``. The connection character set is latin1, so element bytes travel
one-to-one. Backslash is special in MySQL string literals and LIKE patterns; values are
bound (pymysql escapes them), and the LIKE escape clause is written accordingly.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..config.keys import Settings
from .driver import DatabaseError, Driver, DuplicateKey, host_and_port

DUPLICATE_ERRORS = (1062, 1169)


class MySQLDriver(Driver):
    label = "native MySQL connection"
    kind = "mysql"
    text_param = "%s"
    int_param = "%s"
    like_escape = " ESCAPE '\\\\'"  # two backslashes: MySQL escapes inside literals
    backslash_escapes_like = True

    def exact(self, column: str, placeholder: str) -> tuple[str, int]:
        """``=`` is case-insensitive under MySQL's usual collations: recheck byte-wise
        (the first test still uses the index)."""
        return f"({column} = {placeholder} AND BINARY {column} = {placeholder})", 2

    def sort_key(self, column: str) -> str:
        return f"BINARY {column}"

    def __init__(self, settings: Settings):
        import pymysql

        self._pymysql = pymysql
        host, port = host_and_port(settings, 3306)
        try:
            self.conn = pymysql.connect(host=host, port=port, user=settings.str("Username"),
                                        password=settings.str("Password"), database=settings.str("SQLServer"),
                                        charset="latin1", autocommit=True, connect_timeout=10)
        except pymysql.Error as exc:
            raise DatabaseError(f"***Failed to connect to MySQL database '{settings.str('SQLServer')}' at "
                                f"{host}:{port} as {settings.str('Username')}: {exc}") from exc
        self._lock = threading.RLock()
        startup = settings.str("MySQLStartup")
        if startup:
            self.execute(startup)

    def _run(self, sql: str, params: Sequence[Any], fetch: bool):
        pymysql = self._pymysql
        with self._lock:
            try:
                with self.conn.cursor() as cur:
                    count = cur.execute(sql, tuple(params) if params else None)
                    return list(cur.fetchall()) if fetch else count
            except pymysql.err.IntegrityError as exc:
                if exc.args and exc.args[0] in DUPLICATE_ERRORS:
                    raise DuplicateKey(str(exc)) from exc
                raise DatabaseError(f"{exc} in: {sql}") from exc
            except pymysql.Error as exc:
                raise DatabaseError(f"{exc} in: {sql}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self.conn.begin()
            try:
                yield
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    def close(self) -> None:
        try:
            self.conn.close()
        except self._pymysql.Error:
            pass

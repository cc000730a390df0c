"""PostgreSQL through psycopg 3 (``PostGres = 1``; conquest-storage.md §3.1).

``SQLServer`` is the database, ``SQLHost`` ``host[:port]``, ``Username``/``Password`` the
login; one retry after 0.5 s as the original; ``PostGreSQLStartup`` runs after connecting.
The client encoding is LATIN1, so element bytes travel one-to-one. Unquoted identifiers
fold to lower case, exactly as with the original's DDL.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..config.keys import Settings
from .driver import DatabaseError, Driver, DuplicateKey, host_and_port


class PostgresDriver(Driver):
    label = "native PostGres connection"
    kind = "postgres"
    text_param = "%s"
    int_param = "%s"
    backslash_escapes_like = True
    like_op = "ILIKE"

    def __init__(self, settings: Settings):
        import psycopg

        self._psycopg = psycopg
        host, port = host_and_port(settings, 5432)
        params: dict[str, Any] = dict(host=host, port=port, dbname=settings.str("SQLServer"),
                                      user=settings.str("Username"), password=settings.str("Password"),
                                      connect_timeout=10, autocommit=True)
        for attempt in (1, 2):
            try:
                self.conn = psycopg.connect(**params)
                break
            except psycopg.Error as exc:
                if attempt == 2:
                    raise DatabaseError(f"***Failed to connect to PostgreSQL database '{params['dbname']}' "
                                        f"at {host}:{port} as {params['user']}: {exc}".strip()) from exc
                time.sleep(0.5)
        self.conn.execute("SET client_encoding TO 'LATIN1'")
        self._lock = threading.RLock()
        self._depth = 0
        startup = settings.str("PostGreSQLStartup")
        if startup:
            self.execute(startup)

    def sort_key(self, column: str) -> str:
        return f'{column} COLLATE "C"'

    def numeric(self, column: str) -> str:
        return f"CAST({column} AS integer)"

    def _run(self, sql: str, params: Sequence[Any], fetch: bool):
        psycopg = self._psycopg
        with self._lock:
            try:
                if self._depth:
                    # a savepoint, so a refused INSERT does not abort the whole transaction
                    with self.conn.transaction():
                        cur = self.conn.execute(sql, list(params) if params else None)
                        return cur.fetchall() if fetch else cur.rowcount
                cur = self.conn.execute(sql, list(params) if params else None)
                return cur.fetchall() if fetch else cur.rowcount
            except psycopg.errors.UniqueViolation as exc:
                raise DuplicateKey(str(exc)) from exc
            except psycopg.Error as exc:
                raise DatabaseError(f"{exc} in: {sql}".strip()) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
            try:
                with self.conn.transaction():
                    yield
            except self._psycopg.errors.UniqueViolation as exc:
                raise DuplicateKey(str(exc)) from exc
            except self._psycopg.Error as exc:
                raise DatabaseError(str(exc)) from exc
            finally:
                self._depth -= 1

    def close(self) -> None:
        self.conn.close()

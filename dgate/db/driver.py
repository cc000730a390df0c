"""The database driver interface and driver selection (conquest-storage.md §3.1).

A driver runs parameterised SQL: values from the network or from files are always
bound, never pasted into statement text. Statement text holds only identifiers from
dicom.sql/dicom.ini and fixed keywords. ``text_param`` is the placeholder for a text
value (a driver may wrap it to keep the original's byte-exact storage).

Error policy of the original, kept: a duplicate-key error counts as success for plain
inserts; every other error is reported as :class:`DatabaseError`.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..config.keys import Settings


class DatabaseError(Exception):
    """A statement failed or the database cannot be reached."""


class DuplicateKey(DatabaseError):
    """A primary-key or unique constraint refused a row."""


class Driver:
    """Base of all drivers; subclasses implement :meth:`_execute`/:meth:`_query`."""

    label = "abstract driver"       # as in the start-up line "Database type: ..."
    kind = "abstract"
    text_param = "?"
    int_param = "?"
    like_escape = " ESCAPE '\\'"    # appended after LIKE patterns that escape % _ [ \
    backslash_escapes_like = False  # True where \ is LIKE's default escape (PostgreSQL, MySQL)
    supports_joins = True
    implicit_name_sort = True       # the default ORDER BY PatientNam of §4.5 (dBase: file order)

    like_op = "LIKE"                # case-insensitive for ASCII on every driver (SQLite's LIKE)

    def exact(self, column: str, placeholder: str) -> tuple[str, int]:
        """A case-sensitive equality test (SQLite's ``=``) and how many times the value binds."""
        return f"{column} = {placeholder}", 1

    def sort_key(self, column: str) -> str:
        """A column sorted byte-wise (SQLite's default ordering)."""
        return column

    def numeric(self, column: str) -> str:
        """A column sorted as a number (``9999,0c00`` fields with ``Number`` in the name)."""
        return f"({column}+0)"

    def literal_backslash(self) -> str:
        """A LIKE pattern fragment matching one backslash (DT_MSTR value separators)."""
        return "\\\\" if self.backslash_escapes_like else "\\"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the affected row count."""
        return self._run(sql, params, False)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a query; returns all rows."""
        return self._run(sql, params, True)

    def _run(self, sql: str, params: Sequence[Any], fetch: bool):
        """Execute one statement (drivers implement this); rows when ``fetch``."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def close(self) -> None:
        pass

    def escape_like(self, text: str) -> str:
        """Escape LIKE's special characters so they match literally."""
        return "".join("\\" + ch if ch in "%_[\\" else ch for ch in text)


def driver_kind(settings: Settings) -> str:
    """Which driver Conquest would open for these settings.

    The last non-zero of ``Postgres``, ``MySQL``, ``SQLite`` wins; an empty
    ``SQLServer`` means the NULL driver; otherwise a ``SQLServer`` holding a path
    separator (and no SQLite flag) is the built-in dBase III driver; else ODBC.
    """
    if not settings.str("SQLServer"):
        return "null"
    kind = "odbc"
    if settings.int("Postgres"):
        kind = "postgres"
    if settings.int("MySQL"):
        kind = "mysql"
    if settings.int("SQLite"):
        kind = "sqlite"
    server = settings.str("SQLServer")
    if kind == "odbc" and (os.sep in server or "/" in server):
        kind = "dbase"
    return kind


def open_driver(settings: Settings) -> Driver:
    """Open the driver chosen by :func:`driver_kind`."""
    kind = driver_kind(settings)
    if kind == "null":
        from .null import NullDriver
        return NullDriver()
    if kind == "sqlite":
        if settings.int("DoubleBackSlashToDB"):
            raise DatabaseError("*** cannot use DoubleBackSlashToDB=1 with sqlite database")
        from .sqlite import SQLiteDriver
        return SQLiteDriver(settings.str("SQLServer"), settings.str("SQLiteStartup"))
    if kind == "postgres":
        from .postgres import PostgresDriver
        return PostgresDriver(settings)
    if kind == "mysql":
        from .mysql import MySQLDriver
        return MySQLDriver(settings)
    if kind == "odbc":
        from .odbc import ODBCDriver
        return ODBCDriver(settings)
    from .dbase import DBaseDriver
    return DBaseDriver(settings)


def host_and_port(settings: Settings, default_port: int) -> tuple[str, int]:
    """``SQLHost`` as ``host`` or ``host:port`` (empty means localhost)."""
    text = settings.str("SQLHost") or "localhost"
    host, _, port = text.partition(":")
    return host or "localhost", int(port) if port.isdigit() else default_port

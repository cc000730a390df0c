"""Database servers for the shared driver test suite.

Each driver gets a test database (``dgate_test``, or ``$DGATE_TEST_DB``) on the machine's PostgreSQL
(127.0.0.1:5432, user postgres) and MariaDB (127.0.0.1:3306, user root); .ci/run starts
them. When a server is not reachable the tests skip on a developer machine and fail in
CI (``CI`` set), so a missing server is never silently passed over.
"""
from __future__ import annotations

import os

import pytest

DRIVERS = ["sqlite", "postgres", "mysql", "odbc"]
PSQLODBC = "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so"
# DGATE_TEST_DB lets several checkouts run their suites at once on the same servers
TEST_DB = os.environ.get("DGATE_TEST_DB", "dgate_test")
ODBC_DIR = f"/tmp/{TEST_DB}-odbc"

INI = {
    "sqlite": "",
    "postgres": f"SQLServer = {TEST_DB}\nSQLHost = 127.0.0.1:5432\nUsername = postgres\nPassword =\n"
                "PostGres = 1\nSQLite = 0\nDoubleBackSlashToDB = 1\nUseEscapeStringConstants = 1",
    "mysql": f"SQLServer = {TEST_DB}\nSQLHost = 127.0.0.1:3306\nUsername = root\nPassword =\n"
             "MySQL = 1\nSQLite = 0\nDoubleBackSlashToDB = 1",
    "odbc": f"SQLServer = {TEST_DB}_pg\nUsername = postgres\nPassword =\nSQLite = 0",
}


def _unavailable(driver: str, why: str) -> None:
    message = f"{driver} server not reachable ({why}); .ci/run starts it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def ensure_database(driver: str) -> str:
    """Create the test database when needed; returns the ini lines for the driver."""
    if driver == "postgres":
        try:
            import psycopg
            with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
                                 autocommit=True, connect_timeout=5) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [TEST_DB]).fetchone():
                    conn.execute(f"CREATE DATABASE {TEST_DB}")
        except Exception as exc:
            _unavailable("PostgreSQL", str(exc).strip())
    elif driver == "mysql":
        try:
            import pymysql
            conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5)
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {TEST_DB}")
            conn.close()
        except Exception as exc:
            _unavailable("MariaDB", str(exc).strip())
    elif driver == "odbc":
        ensure_database("postgres")
        if not os.path.exists(PSQLODBC):
            _unavailable("psqlODBC driver", f"{PSQLODBC} missing; .ci/run installs odbc-postgresql")
        os.makedirs(ODBC_DIR, exist_ok=True)
        with open(os.path.join(ODBC_DIR, "odbcinst.ini"), "w") as handle:
            handle.write(f"[PostgreSQL Unicode]\nDriver={PSQLODBC}\n")
        with open(os.path.join(ODBC_DIR, "odbc.ini"), "w") as handle:
            handle.write(f"[{TEST_DB}_pg]\nDriver=PostgreSQL Unicode\nServername=127.0.0.1\nPort=5432\n"
                         f"Database={TEST_DB}\nUsername=postgres\nPassword=\n")
        os.environ["ODBCSYSINI"] = ODBC_DIR
        os.environ["ODBCINI"] = os.path.join(ODBC_DIR, "odbc.ini")
    return INI[driver]

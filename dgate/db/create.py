"""Creating the database and its login: ``dgate -eSAPW DB USER PW`` (conquest-protocol.md §2.2).

PostgreSQL: connect to database ``postgres`` as ``postgres`` with the SA password, create
the login (if new) and the database owned by it. MySQL/MariaDB: connect as ``root`` with
the SA password, create the database and the login with all rights on it. SQLite needs
no server (the file is created on first use). The original's bug of dropping the first
character of the SA password is not reproduced.
"""
from __future__ import annotations

import re

from ..config.keys import Settings
from .driver import DatabaseError, driver_kind, host_and_port

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def create_database(settings: Settings, sa_password: str, database: str, user: str, password: str) -> str:
    """Create database and login; returns the message to print."""
    for what, value in (("database", database), ("user", user)):
        if not _NAME.match(value):
            raise DatabaseError(f"{what} name '{value}' must be letters, digits and underscores")
    kind = driver_kind(settings)
    if kind == "postgres":
        import psycopg
        from psycopg import sql
        host, port = host_and_port(settings, 5432)
        try:
            with psycopg.connect(host=host, port=port, dbname="postgres", user="postgres", password=sa_password,
                                 autocommit=True, connect_timeout=10) as conn:
                made_login = False
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [user]).fetchone():
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(user), sql.Literal(password)))
                    made_login = True
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(user)))
        except psycopg.Error as exc:
            raise DatabaseError(f"could not create PostgreSQL database {database}: {exc}") from exc
        return "succesfully created database" + (" and login" if made_login else "")
    if kind == "mysql":
        import pymysql
        host, port = host_and_port(settings, 3306)
        try:
            conn = pymysql.connect(host=host, port=port, user="root", password=sa_password, connect_timeout=10)
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
                cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
                cur.execute(f"GRANT ALL ON `{database}`.* TO %s@'%%'", (user,))
            conn.close()
        except pymysql.Error as exc:
            raise DatabaseError(f"could not create MySQL database {database}: {exc}") from exc
        return "succesfully created database and login"
    if kind == "sqlite":
        return "SQLite needs no database creation: the file is made on first use"
    raise DatabaseError(f"creating a database is not supported for the {kind} driver")

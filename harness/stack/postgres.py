"""Databases of orderflow's own on the machine's PostgreSQL: created and dropped by name.

`orderflow up --store postgres` gives each service a database of its own, and the store tests a
fresh one per test. Every name this module creates or drops starts with PREFIX, and it refuses
any other: it never touches a database it did not make.
"""

from __future__ import annotations

import re
import secrets
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

# The server's maintenance database: where CREATE/DROP DATABASE are issued from.
DEFAULT_ADMIN_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX: Final = "orderflow_"
_NAME: Final = re.compile(rf"^{PREFIX}[a-z0-9_]{{1,50}}$")


class PostgresUnavailable(RuntimeError):
    """The server cannot be reached (or refused us): say where, and what to set."""


def unique_name(purpose: str) -> str:
    """`orderflow_<purpose>_<random>`: never the name of a database someone else made."""
    return f"{PREFIX}{purpose}_{secrets.token_hex(4)}"


def url_of(admin_url: str, name: str) -> str:
    """The admin URL pointed at database `name` (same server, user and options): still a
    postgresql:// URL, which is what tells a store to use PostgreSQL."""
    parts = urlsplit(admin_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"{admin_url!r} is not a postgresql:// URL")
    return urlunsplit(parts._replace(path=f"/{name}"))


def create(admin_url: str, name: str) -> str:
    """Create database `name` (refusing names not ours); return its URL."""
    with _admin(admin_url) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_ours(name))))
    return url_of(admin_url, name)


def create_if_missing(admin_url: str, name: str) -> str:
    """`create`, unless database `name` exists already (a restart keeps its data); its URL."""
    with _admin(admin_url) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (_ours(name),))
        if found.fetchone() is None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url_of(admin_url, name)


def drop(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, closing its sessions (refusing names not ours)."""
    with _admin(admin_url) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_ours(name)))
        )


def _ours(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a database of orderflow's own (orderflow_...)")
    return name


def _admin(admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise PostgresUnavailable(
            f"cannot reach PostgreSQL at {admin_url} ({str(error).strip()}); start it, or"
            " point ORDERFLOW_POSTGRES_ADMIN_URL at a server where orderflow may create"
            " databases"
        ) from error

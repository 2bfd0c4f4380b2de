"""Database roles: the owner runs migrations and maintenance, the application role only uses the tables.

- The **owner** (``DATABASE_OWNER_URL``) owns every table: migrations, ``VACUUM FULL`` after
  an erasure, index builds. Only the migrate step and the maintenance worker hold its password.
- The **application role** (``DB_APP_ROLE``, the user of ``DATABASE_URL`` for the web app and
  the workers) may read and write the tables, but on the access log only SELECT and INSERT:
  no UPDATE, DELETE or TRUNCATE, and, not being the owner, no ALTER TABLE and no DISABLE
  TRIGGER. Whoever steals the web app's credentials cannot rewrite the log at all; whoever
  holds the owner's can, and the HMAC and the signed checkpoints show it (docs/compliance.md).

``grant_app_role`` is applied by migration 0007 and after every ``migrate``;
``owner_connection`` is the maintenance path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import unquote, urlparse

import psycopg
from django.conf import settings
from django.db import connection as default_connection
from psycopg import sql

LOG_TABLE = "recognition_accessevent"


class RoleError(RuntimeError):
    """The roles are not set up as the deployment requires."""


def app_role() -> str:
    return settings.DB_APP_ROLE


def grant_app_role(connection=None, role: str | None = None) -> bool:
    """Give the application role its privileges (idempotent); False when no app role is configured.

    Run as the owner. Refuses an app role that is a superuser, owns the log, or is a member
    of its owner: then it could rewrite the log and the split would be for show.
    """
    role = app_role() if role is None else role
    if not role:
        return False
    connection = connection or default_connection
    ident = sql.Identifier(role)
    with connection.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        row = cur.fetchone()
        if row is None:
            raise RoleError(f"DB_APP_ROLE {role!r} does not exist: create it first (docker/initdb, or "
                            "faceweb/embedded.py)")
        if row[0]:
            raise RoleError(f"DB_APP_ROLE {role!r} is a superuser: it could rewrite the access log")
        cur.execute("SELECT pg_has_role(%s, relowner, 'MEMBER') FROM pg_class WHERE oid = %s::regclass",
                    [role, LOG_TABLE])
        if cur.fetchone()[0]:
            raise RoleError(f"DB_APP_ROLE {role!r} owns the access log (or is a member of its owner)")
        raw = cur.connection  # psycopg's own connection: sql.Composed needs it
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}",
            "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON " + LOG_TABLE + " FROM {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}",
        ):
            cur.execute(sql.SQL(statement).format(ident).as_string(raw))
    return True


def can_maintain_here() -> bool:
    """Whether this process can act as the owner: it holds DATABASE_OWNER_URL, or the deployment
    has a single role (no DB_APP_ROLE: development)."""
    return bool(settings.DATABASE_OWNER_URL) or not app_role()


def _owner_params() -> dict:
    """psycopg connection parameters of the owner, for the database Django is using now
    (the test database under the test runner)."""
    params = dict(default_connection.get_connection_params())
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    url = settings.DATABASE_OWNER_URL
    if url:
        parsed = urlparse(url)
        params["user"] = unquote(parsed.username or "")
        params["password"] = unquote(parsed.password or "")
        query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
        params["host"] = unquote(query.get("host", "")) or parsed.hostname or params.get("host", "")
        if parsed.port:
            params["port"] = parsed.port
    return {k: v for k, v in params.items() if v not in (None, "")}


@contextlib.contextmanager
def owner_connection() -> Iterator[psycopg.Connection]:
    """A separate autocommit connection as the owner (``DATABASE_OWNER_URL``; without it, the
    credentials of ``DATABASE_URL``, for single-role development setups)."""
    conn = psycopg.connect(**_owner_params(), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def require_owner(cur, table: str) -> None:
    """Raise unless the connection's role may rewrite ``table`` (VACUUM FULL skips it otherwise,
    with a mere warning, and the erased bytes would stay in its files)."""
    cur.execute("SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass",
                [table])
    if not cur.fetchone()[0]:
        raise RoleError(f"the maintenance connection does not own {table}: set DATABASE_OWNER_URL to the "
                        "owner role")

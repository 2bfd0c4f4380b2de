"""Throwaway services and real processes: the fault tests and the ingest benchmark drive these.

A :class:`Stack` owns a data folder with its own PostgreSQL+pgvector and Redis (started
with ``faceweb.embedded``, never the shared test ones), and the processes started against
them: ``manage.py`` commands, Celery workers and a gunicorn web server, each in its own
process group with its output in ``<data>/logs/<name>.log``. Everything it started is
stopped by :meth:`Stack.close`, whatever state the processes are in.

Usable from pytest (``from procs import Stack``) and from the benchmark command, which
loads this file by path (``bench/ingest.py``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceweb import embedded

REPO = Path(__file__).resolve().parent.parent

# Environment variables of the parent that must not leak into the children: they would
# point them at the shared test services or at pytest's settings.
_SCRUBBED = ("DATABASE_URL", "REDIS_URL", "FACEWEB_DATA_DIR", "PRIVATE_STORAGE_ROOT", "PYTEST_VERSION",
             "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "CELERY_BROKER_URL")


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.25,
               on_timeout: Callable[[], str] | None = None) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = on_timeout() if on_timeout else ""
            raise TimeoutError(f"{what}: not within {timeout:g} s. {extra}".strip())
        time.sleep(every)


@dataclass
class Proc:
    """A child process in its own process group, its output going to a log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int | None = None) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:] if tail else text

    def wait_for_log(self, pattern: str, *, timeout: float, count: int = 1) -> None:
        """Wait until regex ``pattern`` appears ``count`` times in the output; fail if the process dies."""
        regex = re.compile(pattern)

        def seen() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log(3000)}")
            return len(regex.findall(self.log())) >= count

        wait_until(seen, timeout=timeout, what=f"{self.name} to log {pattern!r}",
                   on_timeout=lambda: "Last output:\n" + self.log(3000))

    def pids(self) -> list[int]:
        """This process and all its descendants (a Celery worker's pool processes)."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            return [root.pid] + [c.pid for c in root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def children(self) -> list[int]:
        return self.pids()[1:]

    def rss_bytes(self) -> int:
        """Resident memory of the process and its descendants together."""
        import psutil

        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (a crash of the machine the process runs on, for SIGKILL)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the group, then SIGKILL what is left after ``grace`` seconds; reap it."""
        if self.alive():
            self.kill_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill_group(signal.SIGKILL)  # also whatever the leader left behind in its group
        try:
            return self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None


@dataclass
class Stack:
    """Throwaway PostgreSQL + Redis in ``data_dir`` and the faceweb processes that use them."""

    data_dir: Path
    model_cache: Path | None = None
    settings_env: dict[str, str] = field(default_factory=dict)
    database_url: str = ""
    redis_url: str = ""
    procs: list[Proc] = field(default_factory=list)

    # ------------------------------------------------------------------ services
    def start_services(self) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self.database_url = embedded.start_postgres(self.data_dir)
        self.redis_url = embedded.start_redis(self.data_dir)
        return self

    def stop_redis(self) -> None:
        """A clean SHUTDOWN: the append-only file keeps the queue."""
        assert embedded.stop_redis(self.data_dir), "redis was not running"

    def start_redis(self) -> None:
        url = embedded.start_redis(self.data_dir)
        assert url == self.redis_url, f"redis came back on another URL: {url} != {self.redis_url}"

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    def restart_postgres(self) -> None:
        """Stop PostgreSQL (fast shutdown: every open connection is cut) and start it again."""
        assert embedded.stop_postgres(self.data_dir), "postgres was not running"
        url = embedded.start_postgres(self.data_dir)
        assert url == self.database_url, f"postgres came back on another URL: {url} != {self.database_url}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a faceweb process using this stack (production-like settings)."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update({
            "DJANGO_SETTINGS_MODULE": "faceweb.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "FACEWEB_DATA_DIR": str(self.data_dir),
            "PRIVATE_STORAGE_ROOT": str(self.data_dir / "private"),
            "SECRET_KEY": "throwaway-stack-key-for-tests-and-benchmarks",
            "AUDIT_HMAC_KEY": "throwaway-stack-audit-hmac-key-for-tests-and-benchmarks",
            "AUDIT_SIGNING_KEY": "dGhyb3dhd2F5LXN0YWNrLWVkMjU1MTktc2VlZC0zMmI=",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DEBUG": "0",
            "SECURE_COOKIES": "0",  # plain http on 127.0.0.1
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        })
        if self.model_cache is not None:
            env["FACEWEB_MODEL_CACHE"] = str(self.model_cache)
        env.update(self.settings_env)
        env.update(extra)
        return env

    # ------------------------------------------------------------------ processes
    def spawn(self, name: str, argv: list[str], **env: str) -> Proc:
        log_path = self.data_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(argv, cwd=REPO, env=self.env(**env), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def manage(self, *args: str, timeout: float = 300, **env: str) -> str:
        """Run ``manage.py <args>`` to completion; its output, or an error carrying it."""
        result = subprocess.run([sys.executable, str(REPO / "manage.py"), *args], cwd=REPO,
                                env=self.env(**env), capture_output=True, text=True, timeout=timeout,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def django(self, script: str, *, timeout: float = 300, **env: str) -> Any:
        """Run Python ``script`` in a fresh Django process of this stack; return its ``result`` (JSON)."""
        program = ("import json, django\ndjango.setup()\nresult = None\n" + script
                   + "\nprint('@@RESULT@@' + json.dumps(result, default=str))\n")
        proc = subprocess.run([sys.executable, "-c", program], cwd=REPO, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"django script failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-5000:]}")
        line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("@@RESULT@@"))
        return json.loads(line.removeprefix("@@RESULT@@"))

    def start_worker(self, name: str, *, concurrency: int = 1, tf_threads: int | None = None,
                     ready_timeout: float = 120, extra_args: Iterable[str] = ()) -> Proc:
        """A real ``celery worker`` process (prefork pool); returns once it consumes from the queue."""
        env = {"FACEWEB_TF_THREADS": str(tf_threads)} if tf_threads else {}
        proc = self.spawn(name, [sys.executable, "-m", "celery", "-A", "faceweb", "worker", "-l", "info",
                                 "--concurrency", str(concurrency), "-n", f"{name}@%h", "--without-mingle",
                                 "--without-gossip", *extra_args], **env)
        proc.wait_for_log(r"\bready\.", timeout=ready_timeout)
        return proc

    def start_web(self, *, ready_timeout: float = 90) -> tuple[Proc, str]:
        """A gunicorn web server on a free port; returns it and its base URL once it answers."""
        port = embedded.free_port()
        proc = self.spawn("web", [sys.executable, "-m", "gunicorn", "faceweb.wsgi",
                                  "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60",
                                  "--graceful-timeout", "5"])
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if not proc.alive():
                raise RuntimeError(f"web exited with {proc.popen.returncode}:\n{proc.log(3000)}")
            return http_get(f"{base}/healthz")[0] > 0

        wait_until(answers, timeout=ready_timeout, what="gunicorn to answer", every=0.5,
                   on_timeout=lambda: proc.log(3000))
        return proc, base

    # ------------------------------------------------------------------ database
    def sql(self, query: str, params: Iterable[Any] = ()) -> list[tuple]:
        """Rows of one query on the stack's database (a connection of its own, closed at once)."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(query, tuple(params))
            return cur.fetchall() if cur.description else []

    # ------------------------------------------------------------------ teardown
    def stop_procs(self, grace: float = 10.0) -> None:
        for proc in reversed(self.procs):
            proc.stop(grace)

    def close(self) -> None:
        """Stop every process started here, then both services. Never raises."""
        try:
            self.stop_procs()
        finally:
            for stop in (embedded.stop_redis, embedded.stop_postgres):
                try:
                    stop(self.data_dir)
                except Exception as exc:  # noqa: BLE001 - teardown goes on; say what was left
                    print(f"procs: could not stop a service in {self.data_dir}: {exc}", file=sys.stderr)


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    """(status, body) of a GET; (0, reason) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own local URL
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


class WebClient:
    """A signed-in browser of the stack's web server: real HTTP, sessions and CSRF tokens."""

    def __init__(self, base_url: str) -> None:
        import requests  # a dependency of TensorFlow; only the tests and the benchmark use it here

        self.base = base_url
        self.session = requests.Session()

    def login(self, username: str, password: str) -> None:
        self.session.get(f"{self.base}/accounts/login/", timeout=30).raise_for_status()
        response = self.session.post(
            f"{self.base}/accounts/login/", allow_redirects=False, timeout=30,
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.csrf()})
        assert response.status_code == 302, f"login of {username} failed: {response.status_code}"

    def csrf(self) -> str:
        return self.session.cookies.get("csrftoken", "")

    def upload(self, paths: Iterable[Path], purpose: str):
        """POST photos to the upload form; the response (302 when every photo was accepted)."""
        files = [("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
        return self.session.post(f"{self.base}/photos/upload", allow_redirects=False, timeout=120,
                                 files=files, data={"purpose": purpose, "csrfmiddlewaretoken": self.csrf()})

"""``manage.py devserver``: the web server, a Celery worker and beat, together, for development.

Each runs as a child process in its own process group; their output is forwarded with
a name prefix. Ctrl-C or SIGTERM stops all of them (SIGTERM first, SIGKILL after
``--grace`` seconds or on a second Ctrl-C). When one of them exits on its own, the
others are stopped and the command exits non-zero, so a broken worker is never hidden
behind a running web server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from faceweb import embedded


@dataclass
class Child:
    name: str
    argv: list[str]
    # SIGTERM the whole process group (runserver's autoreloader parent would otherwise
    # leave its server child behind) or only the leader (Celery shuts its pool down itself).
    term_group: bool = False
    process: subprocess.Popen | None = None
    pump: threading.Thread | None = field(default=None, repr=False)


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together (development only)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000",
                            help="address for the web server (default 127.0.0.1:8000)")
        parser.add_argument("--gunicorn", action="store_true",
                            help="serve with gunicorn instead of Django's autoreloading runserver")
        parser.add_argument("--no-beat", action="store_true", help="do not run Celery beat")
        parser.add_argument("--grace", type=float, default=10.0,
                            help="seconds to wait after SIGTERM before killing children (default 10)")

    def handle(self, *args, addrport: str, gunicorn: bool, no_beat: bool, grace: float, **options):
        if not settings.DEBUG and not settings.EMBEDDED_SERVICES:
            raise CommandError("devserver is for development; in production run gunicorn, "
                               "`celery worker` and `celery beat` as separate services (see docker/).")
        self._lock = threading.Lock()
        if settings.EMBEDDED_SERVICES:
            # Start (or reuse) them here, not on settings import; the children get their URLs.
            services = embedded.ensure_services(settings.DATA_DIR)
            self.write("devserver", f"embedded services: {services.database_url} {services.redis_url}")
        children = self.children(addrport, gunicorn=gunicorn, beat=not no_beat)
        self._stop_requested = threading.Event()
        self._signals = 0
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in children:
                self.start(child)
            self.write("devserver", f"web on http://{addrport}/ (Ctrl-C stops everything)")
            failed = self.supervise(children)
        finally:
            self.stop_all(children, grace)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failed is not None:
            raise CommandError(f"{failed.name} exited with status {failed.process.returncode}; "
                               "stopped the others.", returncode=failed.process.returncode or 1)

    # ------------------------------------------------------------------ children
    def children(self, addrport: str, *, gunicorn: bool, beat: bool) -> list[Child]:
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        if gunicorn:
            web = [python, "-m", "gunicorn", "faceweb.wsgi", "--bind", addrport, "--workers", "2",
                   "--access-logfile", "-"]
        else:
            web = [python, manage, "runserver", addrport]
        result = [
            Child("web", web, term_group=not gunicorn),
            Child("worker", [python, "-m", "celery", "-A", "faceweb", "worker", "-l", "info",
                             "--concurrency", "1"]),
        ]
        if beat:
            schedule = settings.DATA_DIR / "celerybeat-schedule"
            schedule.parent.mkdir(parents=True, exist_ok=True)
            result.append(Child("beat", [python, "-m", "celery", "-A", "faceweb", "beat", "-l", "info",
                                         "--schedule", str(schedule)]))
        return result

    def start(self, child: Child) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Own process group: the terminal's Ctrl-C reaches only us, and we can stop a
        # child together with whatever it spawned (runserver's autoreloader).
        child.process = subprocess.Popen(
            child.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=settings.BASE_DIR, start_new_session=True,
        )
        child.pump = threading.Thread(target=self.forward, args=(child,), daemon=True)
        child.pump.start()

    def forward(self, child: Child) -> None:
        for raw in iter(child.process.stdout.readline, b""):
            self.write(child.name, raw.decode(errors="replace").rstrip("\n"))
        child.process.stdout.close()

    def write(self, name: str, line: str) -> None:
        with self._lock:
            sys.stdout.write(f"{name:>9} | {line}\n")
            sys.stdout.flush()

    # ------------------------------------------------------------------ lifecycle
    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        self._stop_requested.set()

    def supervise(self, children: list[Child]) -> Child | None:
        """Wait until a stop is requested (None) or a child exits (that child)."""
        while not self._stop_requested.wait(0.2):
            for child in children:
                if child.process.poll() is not None:
                    return child
        return None

    def stop_all(self, children: list[Child], grace: float) -> None:
        running = [c for c in children if c.process and c.process.poll() is None]
        if running:
            self.write("devserver", "stopping " + ", ".join(c.name for c in running))
        for child in running:
            if child.term_group:
                self.signal_group(child, signal.SIGTERM)
            else:
                child.process.terminate()
        deadline = time.monotonic() + grace
        for child in running:
            while child.process.poll() is None and time.monotonic() < deadline and self._signals < 2:
                time.sleep(0.1)
            if child.process.poll() is None:
                self.write("devserver", f"{child.name} did not stop in time: killing it")
                self.signal_group(child, signal.SIGKILL)
                child.process.wait()
        for child in children:
            if child.process:
                self.signal_group(child, signal.SIGKILL)  # leftovers of the group, if any
                if child.pump:
                    child.pump.join(timeout=2)

    @staticmethod
    def signal_group(child: Child, sig: int) -> None:
        try:
            os.killpg(child.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

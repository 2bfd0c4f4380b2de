"""Load benchmark: the real web (gunicorn) and worker processes under reviewers and uploaders at once.

    python -m bench.loadtest                       # this checkout, faceweb/gunicorn_conf.py
    python -m bench.loadtest --app-dir OTHER       # another checkout (with bench/stack.py)

Starts throwaway PostgreSQL and Redis (``faceweb.embedded``) in a temporary folder, a
Celery worker and gunicorn on 127.0.0.1 (loopback only), seeds accounts, enrolled people
and a review queue of real fixture photos processed by the worker, then runs locust
headless: ``--reviewers`` users page the review queue and load every crop on the page,
``--uploaders`` users upload photos and identify them through the API (polling until
processed), one probe reads ``/healthz`` each second. The run stops after ``--run-time``
seconds or ``--max-requests`` requests, whichever comes first. Prints p50/p95/max and
errors per endpoint. ``--app-dir`` runs another checkout of faceweb (e.g. an older
commit) under the same load, for before/after figures; the processes and services are
the ones ``bench/stack.py`` of that checkout starts; everything is stopped at the end
(also on SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PASSWORD = "load-test-password-1"  # noqa: S105 - throwaway accounts in a throwaway database
ENROL = ["obama.jpg", "biden.jpg"]
IDENTIFY = ["obama2.jpg", "obama3.jpg", "obama_and_biden.jpg", "two_people.jpg", "obama_small.jpg"]

SEED = """
from django.contrib.auth.models import Group, User
from recognition.api.tokens import create_token
from recognition.models import Consent
from recognition.services.consent import give_consent, person_for_user
from recognition.services.photos import upload_photo
cfg = {cfg!r}
for i in range(cfg["reviewers"]):
    user = User.objects.create_user(f"reviewer{{i}}", password=cfg["password"])
    user.groups.add(Group.objects.get(name="reviewer"))
tokens, photos = [], []
for i in range(max(cfg["uploaders"], len(cfg["enrol"]))):
    user = User.objects.create_user(f"uploader{{i}}", password=cfg["password"])
    user.groups.add(Group.objects.get(name="uploader"))
    give_consent(person=person_for_user(user), purposes={{"enrol", "identify"}}, method=Consent.Method.WEB,
                 given_by=user)
    tokens.append(create_token(user=user, name="load").key)
    if i < len(cfg["enrol"]):
        photos.append(upload_photo(uploader=user, file=open(cfg["enrol"][i], "rb").read(), purpose="enrol",
                                   filename="enrol.jpg").photo.pk)
for n in range(cfg["queue_photos"]):
    user = User.objects.get(username=f"uploader{{n % cfg['uploaders']}}")
    data = open(cfg["identify"][n % len(cfg["identify"])], "rb").read() + n.to_bytes(4, "big")
    photos.append(upload_photo(uploader=user, file=data, purpose="identify", filename="q.jpg").photo.pk)
result = {{"tokens": tokens, "photos": photos}}
"""


def load_stack(app_dir: Path):
    """``bench/stack.py`` of the checkout under test (its processes run from that checkout)."""
    if app_dir == REPO:
        from bench import stack

        return stack
    path = app_dir / "bench" / "stack.py"
    if not path.exists():
        raise SystemExit(f"{path} is missing: --app-dir must be a faceweb source checkout")
    name = f"faceweb_stack_{abs(hash(str(app_dir)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def percentile_table(stats_csv: Path) -> list[dict]:
    rows = []
    with stats_csv.open() as fh:
        for row in csv.DictReader(fh):
            rows.append({"name": row["Name"] or "all", "requests": int(row["Request Count"]),
                         "failures": int(row["Failure Count"]),
                         "p50": row["50%"], "p95": row["95%"], "max": row["Max Response Time"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", type=Path, default=REPO,
                        help="faceweb checkout to run (default: this one)")
    parser.add_argument("--gunicorn", default="-c python:faceweb.gunicorn_conf",
                        help="gunicorn arguments (default: the checkout's production settings)")
    parser.add_argument("--reviewers", type=int, default=6)
    parser.add_argument("--uploaders", type=int, default=3)
    parser.add_argument("--queue-photos", type=int, default=20, help="identify photos queued before the run")
    parser.add_argument("--run-time", type=int, default=60, help="seconds of load")
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--identify-timeout", type=float, default=60.0)
    parser.add_argument("--photos", type=Path, default=REPO / "tests" / "fixtures" / "faces")
    parser.add_argument("--keep", type=Path, default=None,
                        help="also copy locust's CSV files and the processes' logs here")
    args = parser.parse_args(argv)

    app_dir = args.app_dir.resolve()
    procs = load_stack(app_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up (finally) when stopped
    root = Path(tempfile.mkdtemp(prefix="fw-load-"))
    # Throughput is measured, not people: no identify quota (docs/rules.md) in the throwaway stack.
    stack = procs.Stack(root / "data", settings_env={"IDENTIFY_QUOTA_PER_DAY": "0"})
    say = print
    try:
        stack.start_services()
        stack.manage("migrate", "--noinput", "--skip-checks")
        worker = stack.start_worker("worker", concurrency=1)
        cfg = {"reviewers": args.reviewers, "uploaders": args.uploaders, "password": PASSWORD,
               "enrol": [str(args.photos / n) for n in ENROL],
               "identify": [str(args.photos / n) for n in IDENTIFY], "queue_photos": args.queue_photos}
        seeded = stack.django(SEED.format(cfg=cfg))
        say(f"seeded {args.reviewers} reviewers, {len(seeded['tokens'])} uploaders, "
            f"{len(seeded['photos'])} photos")
        deadline = time.monotonic() + 600
        ids = seeded["photos"]
        while time.monotonic() < deadline:
            left = stack.sql("SELECT count(*) FROM recognition_photo WHERE id = ANY(%s) "
                             "AND status NOT IN ('done', 'failed')", [ids])[0][0]
            if not left:
                break
            time.sleep(1)
        else:
            raise SystemExit(f"the worker did not process the seed photos:\n{worker.log(3000)}")
        faces = stack.sql("SELECT count(DISTINCT face_id) FROM recognition_identification "
                          "WHERE status = 'pending'")[0][0]
        say(f"review queue: {faces} faces with pending proposals")

        port = procs.embedded.free_port()
        web = stack.spawn("web", [sys.executable, "-m", "gunicorn", "faceweb.wsgi",
                                  *shlex.split(args.gunicorn), "--bind", f"127.0.0.1:{port}"])
        base = f"http://127.0.0.1:{port}"
        procs.wait_until(lambda: procs.http_get(f"{base}/healthz")[0] > 0, timeout=120,
                         what="gunicorn to answer", every=0.5, on_timeout=lambda: web.log(3000))

        config = root / "load.json"
        config.write_text(json.dumps({
            "reviewers": args.reviewers, "uploaders": args.uploaders, "password": PASSWORD,
            "reviewer_accounts": [f"reviewer{i}" for i in range(args.reviewers)], "tokens": seeded["tokens"],
            "photos": cfg["identify"], "queue_pages": 2, "max_requests": args.max_requests,
            "identify_timeout_s": args.identify_timeout}))
        users = args.reviewers + args.uploaders + 1
        say(f"load: {args.reviewers} reviewers, {args.uploaders} uploaders, 1 health probe; "
            f"{args.run_time} s or {args.max_requests} requests; gunicorn {args.gunicorn}; "
            f"load average before {os.getloadavg()[0]:.2f}")
        prefix = root / "locust"
        env = {**os.environ, "FACEWEB_LOAD_CONFIG": str(config)}
        argv = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
                "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{args.run_time}s",
                "--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
                "--stop-timeout", "10"]
        with (root / "locust.log").open("wb") as log:
            locust = subprocess.run(argv, env=env, check=False, timeout=args.run_time + 120, stdout=log,
                                    stderr=subprocess.STDOUT)
        if not prefix.with_name("locust_stats.csv").exists():
            raise SystemExit(f"locust failed ({locust.returncode}):\n"
                             f"{(root / 'locust.log').read_text(errors='replace')[-3000:]}")
        say(f"load average after {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        say(f"{'endpoint':<44} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for row in percentile_table(prefix.with_name("locust_stats.csv")):
            say(f"{row['name']:<44} {row['requests']:>8} {row['failures']:>6} {row['p50']:>8} "
                f"{row['p95']:>8} {float(row['max']):>8.0f}")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in [*root.glob("locust_*.csv"), *(stack.data_dir / "logs").glob("*.log")]:
                shutil.copy(path, args.keep / path.name)
        return 0
    finally:
        stack.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

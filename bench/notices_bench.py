#!/usr/bin/env python
"""Performance benchmark for operator notices and outbound mail (a script, not a test).

    .venv/bin/python bench/notices_bench.py [--db sqlite|postgres|both] [--admins 10000]
                                            [--workers-postgres 2] [--workers-sqlite 1,2]
                                            [--baseline 500] [--keep]

For each database the script starts a child process that gets its own, fresh database (a
SQLite file in a temporary directory, or a PostgreSQL database it creates and drops), runs the
migrations, bulk-creates 10,000 verified administrators (one tenant each, below one partner),
starts a local SMTP sink (aiosmtpd in a subprocess on 127.0.0.1) and ``mandant db_worker``
processes against the database, and measures:

1. the operator's POST of the notice form (``django.test.Client``) for an outage notice to all
   tenants, until the response (target ≤ 2 s);
2. the time from that response until every mail was accepted by the SMTP sink (target
   ≤ 30 s), with the fan-out task's share, the number of SMTP connections and messages/s;
3. the naive baseline, measured on ``--baseline`` recipients and extrapolated (clearly
   labelled): the fan-out done in the request (render per recipient, one INSERT and one task
   per message) and delivery with one task and one new SMTP connection per message.

The script also measures the password hasher (Django's Argon2 defaults and the tuned
``MandantArgon2PasswordHasher``): parameters and median time per hash. The exit status is 1
when a target is missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    PG_DEFAULT_URL,
    REPO,
    DbResult,
    Row,
    engine_version,
    fmt,
    load_averages,
    machine,
    pg_drop,
    pg_reachable,
    pg_recreate,
    setup_django,
)

BIN = Path(sys.executable).parent
PG_DB_NAME = "mandant_bench_notices"
OPERATOR_EMAIL = "olga@bench-operator.example"
POST_TARGET_MS = 2000.0
DELIVERY_TARGET_S = 30.0
HASH_TARGET_MS = (50.0, 250.0)

# --------------------------------------------------------------------------------------
# Results


# --------------------------------------------------------------------------------------
# The SMTP sink: its own process, so that it competes for the CPU like a relay on the host


def sink_main(port: int, stats_path: Path) -> int:
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Handler:
        def __init__(self) -> None:
            self.messages = 0
            self.connections = 0
            self.recipients: set[str] = set()
            self.duplicates = 0
            self.first_at: float | None = None
            self.last_at: float | None = None

        async def handle_EHLO(  # noqa: N802
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            self.connections += 1
            session.host_name = hostname
            return responses

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            self.messages += 1
            for rcpt in envelope.rcpt_tos:
                if rcpt in self.recipients:
                    self.duplicates += 1
                self.recipients.add(rcpt)
            now = time.time()
            self.first_at = self.first_at or now
            self.last_at = now
            return f"250 2.0.0 Ok: queued as B{self.messages}"

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def write() -> None:
        data = {
            "messages": handler.messages,
            "connections": handler.connections,
            "recipients": len(handler.recipients),
            "duplicates": handler.duplicates,
            "first_at": handler.first_at,
            "last_at": handler.last_at,
        }
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(stats_path)

    write()
    while not stop.wait(0.2):
        write()
    controller.stop()
    write()
    return 0


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sink:
    process: subprocess.Popen[bytes]
    port: int
    stats_path: Path

    def stats(self) -> dict[str, Any]:
        for _ in range(50):
            try:
                return dict(json.loads(self.stats_path.read_text()))
            except (OSError, ValueError):
                time.sleep(0.05)
        raise RuntimeError("the SMTP sink writes no statistics")

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)
        return self.stats()


def start_sink(workdir: Path) -> Sink:
    port = free_port()
    stats = workdir / f"sink-{port}.json"
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(Path(__file__).resolve()), "--sink", str(port), "--json", str(stats)],
        cwd=REPO,
    )
    deadline = time.time() + 15
    while not stats.exists():
        if time.time() > deadline or process.poll() is not None:
            raise RuntimeError("the SMTP sink did not start")
        time.sleep(0.05)
    return Sink(process, port, stats)


# --------------------------------------------------------------------------------------
# Parent process: one child per database, then the table


def run_child(
    args: argparse.Namespace, db: str, workdir: Path, database_url: str, workers: str
) -> DbResult:
    out = workdir / f"result-{db}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        db,
        "--workdir",
        str(workdir),
        "--database-url",
        database_url,
        "--json",
        str(out),
        "--admins",
        str(args.admins),
        "--baseline",
        str(args.baseline),
        "--workers",
        workers,
    ]
    completed = subprocess.run(cmd, cwd=REPO, check=False)  # noqa: S603
    if completed.returncode != 0 or not out.exists():
        raise SystemExit(f"benchmark child for {db} failed (exit {completed.returncode})")
    data = json.loads(out.read_text())
    result = DbResult(db=data["db"], engine_version=data["engine_version"], info=data["info"])
    result.rows = [Row(**row) for row in data["rows"]]
    return result


def run_hasher_child(workdir: Path) -> DbResult:
    out = workdir / "hasher.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--hasher",
        "--json",
        str(out),
        "--workdir",
        str(workdir),
    ]
    completed = subprocess.run(cmd, cwd=REPO, check=False)  # noqa: S603
    if completed.returncode != 0 or not out.exists():
        raise SystemExit(f"hasher benchmark failed (exit {completed.returncode})")
    data = json.loads(out.read_text())
    result = DbResult(db="hasher", info=data["info"])
    result.rows = [Row(**row) for row in data["rows"]]
    return result


def print_rows(title: str, result: DbResult) -> bool:
    all_passed = True
    print(f"\n{title}")
    print("| Measure | Value | Target | Naive baseline | ✓ |")
    print("|---|---|---|---|---|")
    for row in result.rows:
        target = f"≤ {fmt(row.target, row.unit)}" if row.target is not None else "—"
        baseline = fmt(row.baseline, row.unit) if row.baseline is not None else "—"
        if row.baseline is not None and row.baseline_label:
            baseline += f" ({row.baseline_label})"
        verdict = {True: "pass", False: "**FAIL**", None: ""}[row.passed]
        if row.passed is False:
            all_passed = False
        print(f"| {row.label} | {fmt(row.value, row.unit)} | {target} | {baseline} | {verdict} |")
    for row in result.rows:
        if row.note:
            print(f"- {row.label}: {row.note}")
    return all_passed


def parent_main(args: argparse.Namespace) -> int:
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results: list[DbResult] = []
    workdir = Path(tempfile.mkdtemp(prefix="mandant-notices-bench-"))
    started = time.perf_counter()
    try:
        if not args.skip_hasher:
            print("\n=== password hasher ===", flush=True)
            results.append(run_hasher_child(workdir))
        for db in dbs:
            print(f"\n=== {db} ===", flush=True)
            if db == "sqlite":
                url = f"sqlite:///{workdir / 'bench.sqlite3'}"
                results.append(run_child(args, db, workdir, url, args.workers_sqlite))
            else:
                if pg_reachable(args.pg_url) is None:
                    continue
                pg_recreate(args.pg_url, PG_DB_NAME)
                try:
                    results.append(
                        run_child(
                            args, db, workdir, f"{args.pg_url}/{PG_DB_NAME}", args.workers_postgres
                        )
                    )
                finally:
                    if not args.keep:
                        pg_drop(args.pg_url, PG_DB_NAME)
    finally:
        if args.keep:
            print(f"\nkept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not results:
        print("nothing measured")
        return 1
    print(f"\n=== Results (total run {time.perf_counter() - started:.0f} s) ===")
    print(f"machine: {machine()}")
    passed = True
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL", "hasher": "Password hasher"}
    for result in results:
        info = "; ".join(f"{k}: {v}" for k, v in result.info.items())
        title = f"{names[result.db]}" + (
            f" ({result.engine_version})" if result.engine_version else ""
        )
        passed = print_rows(f"{title} — {info}", result) and passed
    print("\nALL TARGETS MET" if passed else "\nSOME TARGETS MISSED")
    return 0 if passed else 1


# --------------------------------------------------------------------------------------
# Child process: Django set up against one fresh database


def build_admins(count: int) -> None:
    """One partner below the root, ``count`` customer tenants below it, one verified
    administrator each (half of them German). Bulk inserts; no password hashing."""
    from django.db import transaction
    from django.utils import timezone

    from mandant.accounts.models import Membership, User
    from mandant.tenants.models import Tenant

    now = timezone.now()
    with transaction.atomic():
        root = Tenant.objects.get(parent__isnull=True)
        partner = Tenant.objects.create(
            name="Bench Partner",
            name_key="bench partner",
            slug="bench-partner",
            type="STANDARD",
            version="PROFESSIONAL",
            parent=root,
            path=root.path + "000001",
            depth=1,
            child_count=count,
            charset="UTF-8",
            status="ready",
            tenant_management_active=True,
        )
        Tenant.objects.filter(pk=root.pk).update(child_count=1)
        tenants = Tenant.objects.bulk_create(
            [
                Tenant(
                    name=f"Kunde {i:05d}",
                    name_key=f"kunde {i:05d}",
                    slug=f"kunde-{i:05d}",
                    type="STANDARD",
                    version="BASIC",
                    parent=partner,
                    path=partner.path + f"{i:06d}",
                    depth=2,
                    charset="UTF-8",
                    status="ready",
                )
                for i in range(1, count + 1)
            ],
            batch_size=2000,
        )
        users = User.objects.bulk_create(
            [
                User(
                    email=f"admin{i:05d}@bench.example",
                    password="!unusable",  # noqa: S106
                    first_name=f"Admin {i}",
                    language="de" if i % 2 else "en",
                    email_verified_at=now,
                )
                for i in range(1, count + 1)
            ],
            batch_size=2000,
        )
        Membership.objects.bulk_create(
            [Membership(tenant=t, user=u, role=100) for t, u in zip(tenants, users, strict=True)],
            batch_size=2000,
        )
        User.objects.create(
            email=OPERATOR_EMAIL,
            password="!unusable",
            is_staff=True,  # noqa: S106
            email_verified_at=now,
        )


def start_workers(
    count: int, workdir: Path, database_url: str, sink: Sink, tag: str
) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "MANDANT_HOME": str(workdir / "home"),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
        }
    )
    log = (workdir / f"workers-{tag}.log").open("ab")
    return [
        subprocess.Popen(  # noqa: S603
            [
                str(BIN / "mandant"),
                "db_worker",
                "--no-reload",
                "--no-startup-delay",
                "--interval",
                "0.1",
                "--verbosity",
                "0",
                "--worker-id",
                f"bench-{tag}-{i}",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
        )
        for i in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def counts(notice_id: int) -> dict[str, int]:
    from django.db.models import Count

    from mandant.notices.models import OutboundMessage

    rows = (
        OutboundMessage.objects.filter(notice_id=notice_id)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["status"]: row["n"] for row in rows}


def wait_delivered(notice_id: int, expected: int, timeout: float) -> tuple[float, float | None]:
    """Seconds until every message of the notice is done; and until the fan-out was done."""
    from mandant.notices.models import Notice

    started = time.perf_counter()
    fanned_out: float | None = None
    while time.perf_counter() - started < timeout:
        if (
            fanned_out is None
            and Notice.objects.filter(pk=notice_id, fanned_out_at__isnull=False).exists()
        ):
            fanned_out = time.perf_counter() - started
        state = counts(notice_id)
        done = state.get("sent", 0) + state.get("failed", 0)
        if done >= expected and not state.get("queued") and not state.get("retrying"):
            return time.perf_counter() - started, fanned_out
        time.sleep(0.1)
    raise RuntimeError(f"not delivered within {timeout:.0f} s: {counts(notice_id)}")


def form_data() -> dict[str, str]:
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.localtime()
    return {
        "kind": "outage",
        "severity": "critical",
        "title_en": "Sending is delayed",
        "title_de": "Der Versand verzögert sich",
        "body_en": "Our mail relay is down. We are working on it.",
        "body_de": "Unser Mail-Relay ist ausgefallen. Wir arbeiten daran.",
        "scope": "",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }


def naive_fan_out(notice: Any, recipients: list[Any]) -> None:
    """The naive way: in the request, render per recipient, one INSERT and one task each."""
    from mandant.notices.models import OutboundMessage
    from mandant.notices.services import mail_render
    from mandant.notices.tasks import deliver_message

    for recipient in recipients:
        content = mail_render(
            template="notice",
            context={"notice": notice, "tenant": None},
            language=recipient.language,
        )
        message = OutboundMessage.objects.create(
            tenant_id=recipient.tenant_id,
            to_user_id=recipient.user_id,
            to_email=recipient.email,
            kind="notice",
            language=recipient.language,
            subject=content.subject,
            text_body=content.text,
            html_body=content.html,
            notice=notice,
        )
        deliver_message.enqueue(message.pk)  # one task, one new SMTP connection per message


def measure_notice(
    result: DbResult,
    workdir: Path,
    database_url: str,
    admins: int,
    workers: int,
    baseline: dict[str, float] | None,
) -> None:
    from django.test import Client

    from mandant.accounts.models import User
    from mandant.notices.models import Notice

    sink = start_sink(workdir)
    procs = start_workers(workers, workdir, database_url, sink, f"w{workers}")
    try:
        client = Client()
        client.force_login(User.objects.get(email=OPERATOR_EMAIL))
        assert client.get("/operator/notices/new/").status_code == 200  # templates warm
        time.sleep(0.5)
        before = sink.stats()
        started = time.perf_counter()
        response = client.post("/operator/notices/new/", form_data())
        post_ms = (time.perf_counter() - started) * 1000
        assert response.status_code == 302, response.status_code
        notice = Notice.objects.order_by("-pk").first()
        assert notice is not None
        delivered_s, fan_out_s = wait_delivered(notice.pk, admins, timeout=600)
        stats = sink.stats()
    finally:
        stop_workers(procs)
        final = sink.stop()
    state = counts(notice.pk)
    notice.refresh_from_db()
    sent = final["messages"] - before["messages"]
    connections = final["connections"] - before["connections"]
    ok = (
        notice.recipients_total == admins
        and state.get("sent") == admins
        and sent == admins
        and final["duplicates"] == 0
    )
    suffix = f", {workers} worker{'s' if workers > 1 else ''}"
    if baseline is not None:
        result.add(
            Row(
                key="post",
                label=f"POST of the notice form → response ({admins:,} administrators)",
                unit="ms",
                value=post_ms,
                target=POST_TARGET_MS,
                baseline=baseline["fan_out_s"] * 1000 * admins / baseline["n"],
                baseline_label=f"naive fan-out in the request, {baseline['n']:.0f} measured × "
                f"{admins / baseline['n']:g}",
            )
        )
    result.add(
        Row(
            key=f"delivered-{workers}",
            label=f"response → all {admins:,} accepted by the SMTP sink{suffix}",
            unit="s",
            value=delivered_s,
            target=DELIVERY_TARGET_S,
            baseline=(baseline["deliver_s"] * admins / baseline["n"]) if baseline else None,
            baseline_label=(
                f"one task + one SMTP connection per message, {baseline['n']:.0f} "
                f"measured × {admins / baseline['n']:g}"
            )
            if baseline
            else "",
            note=(
                f"fan-out task done after {fan_out_s:.1f} s; {connections} SMTP connections "
                f"(batches of 200); {sent:,} messages at the sink, duplicates "
                f"{final['duplicates']}; statuses {state}; all correct: {ok}"
                if fan_out_s is not None
                else ""
            ),
        )
    )
    result.add(
        Row(
            key=f"rate-{workers}",
            label=f"delivery rate{suffix}",
            unit="msg/s",
            value=admins / delivered_s,
            baseline=(baseline["n"] / baseline["deliver_s"]) if baseline else None,
            baseline_label="naive" if baseline else "",
        )
    )
    result.add(
        Row(
            key=f"connections-{workers}",
            label=f"SMTP connections{suffix}",
            unit="",
            value=connections,
            baseline=float(admins) if baseline else None,
            baseline_label="naive: one per message" if baseline else "",
        )
    )
    if not ok:
        raise SystemExit(f"delivery incomplete or wrong: {state}, sink {final}")
    del stats


def measure_baseline(workdir: Path, database_url: str, n: int, workers: int) -> dict[str, float]:
    """The naive fan-out and delivery for ``n`` recipients (extrapolated by the caller)."""
    from datetime import timedelta

    from django.utils import timezone

    from mandant.accounts.models import User
    from mandant.notices.models import Notice
    from mandant.notices.selectors import notice_recipients

    now = timezone.now()
    notice = Notice.objects.create(
        kind="outage",
        severity="critical",
        title_en="Naive",
        title_de="Naiv",
        body_en="Baseline.",
        body_de="Vergleich.",
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        created_by=User.objects.get(email=OPERATOR_EMAIL),
        fanned_out_at=now,
    )
    recipients = notice_recipients(notice)[:n]
    sink = start_sink(workdir)
    started = time.perf_counter()
    naive_fan_out(notice, recipients)  # no worker runs yet: this is the request's share
    fan_out_s = time.perf_counter() - started
    procs = start_workers(workers, workdir, database_url, sink, f"naive{workers}")
    try:
        started = time.perf_counter()
        deliver_s, _ = wait_delivered(notice.pk, len(recipients), timeout=600)
    finally:
        stop_workers(procs)
        stats = sink.stop()
    print(
        f"  naive baseline on {len(recipients)}: fan-out {fan_out_s:.2f} s, delivery "
        f"{deliver_s:.1f} s, {stats['connections']} connections",
        flush=True,
    )
    return {"n": float(len(recipients)), "fan_out_s": fan_out_s, "deliver_s": deliver_s}


def child_main(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    result = DbResult(db=args.child)
    started = time.perf_counter()
    setup_django(workdir, args.database_url)
    result.engine_version = engine_version()
    print(
        f"  {result.engine_version}; migrated in {time.perf_counter() - started:.1f} s", flush=True
    )
    result.info["load average at start"] = " ".join(load_averages())
    t0 = time.perf_counter()
    build_admins(args.admins)
    result.info["bulk-created"] = (
        f"{args.admins:,} tenants, users, memberships in {time.perf_counter() - t0:.1f} s"
    )
    print(f"  {result.info['bulk-created']}", flush=True)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    baseline = measure_baseline(workdir, args.database_url, args.baseline, worker_counts[-1])
    for index, workers in enumerate(worker_counts):
        measure_notice(
            result,
            workdir,
            args.database_url,
            args.admins,
            workers,
            baseline if index == len(worker_counts) - 1 else None,
        )
    result.info["load average at end"] = " ".join(load_averages())
    result.info["child run"] = f"{time.perf_counter() - started:.0f} s"
    Path(args.json).write_text(
        json.dumps(
            {
                "db": result.db,
                "engine_version": result.engine_version,
                "info": result.info,
                "rows": [asdict(r) for r in result.rows],
            },
            default=str,
        )
    )
    return 0


def hasher_main(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    setup_django(workdir, "sqlite:///:memory:", migrate=False)
    from django.conf import settings
    from django.contrib.auth.hashers import Argon2PasswordHasher, get_hasher

    result = DbResult(db="hasher")
    password = "correct-horse-battery-staple-7"  # noqa: S105
    tuned = get_hasher()
    result.info["PASSWORD_HASHERS[0]"] = settings.PASSWORD_HASHERS[0]
    for label, hasher in (
        ("Django's Argon2PasswordHasher", Argon2PasswordHasher()),
        ("MandantArgon2PasswordHasher (in use)", tuned),
    ):
        params = (
            f"time_cost {hasher.time_cost}, memory_cost {hasher.memory_cost} KiB, "
            f"parallelism {hasher.parallelism}"
        )
        encoded = hasher.encode(password, hasher.salt())  # warm-up
        times = []
        for _ in range(15):
            start = time.perf_counter()
            hasher.encode(password, hasher.salt())
            times.append(time.perf_counter() - start)
        verify = []
        for _ in range(9):
            start = time.perf_counter()
            assert hasher.verify(password, encoded)
            verify.append(time.perf_counter() - start)
        in_use = hasher is tuned
        result.add(
            Row(
                key=f"hash-{hasher.__class__.__name__}",
                label=f"{label}: median per hash",
                unit="ms",
                value=statistics.median(times) * 1000,
                target=HASH_TARGET_MS[1] if in_use else None,
                note=f"{params}; verify median {statistics.median(verify) * 1000:.0f} ms; "
                f"aim {HASH_TARGET_MS[0]:.0f}–{HASH_TARGET_MS[1]:.0f} ms",
            )
        )
    Path(args.json).write_text(
        json.dumps(
            {
                "db": "hasher",
                "engine_version": "",
                "info": result.info,
                "rows": [asdict(r) for r in result.rows],
            }
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=PG_DEFAULT_URL,
        help="PostgreSQL server URL without database (default %(default)s)",
    )
    parser.add_argument("--admins", type=int, default=10_000)
    parser.add_argument(
        "--baseline", type=int, default=500, help="recipients for the naive baseline (extrapolated)"
    )
    parser.add_argument(
        "--workers-postgres", default="2", help="comma-separated worker counts to measure, e.g. 1,2"
    )
    parser.add_argument("--workers-sqlite", default="1,2")
    parser.add_argument("--skip-hasher", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--hasher", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", default="1", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return sink_main(args.sink, Path(args.json))
    if args.hasher:
        return hasher_main(args)
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Performance benchmark of the sending pipeline (a script, not a test).

    .venv/bin/python bench/campaign_bench.py [--db postgres|sqlite|both] [--recipients N]
        [--workers W] [--connections C] [--keep]

For each database a child process gets its own fresh database, loads the demo data and makes
"Autohaus Nord" ready to send (sending domain with a DKIM key, postal address, sender
identity) with ``--recipients`` contacts on its list; the tenant is put on the ENTERPRISE
edition, whose send rate is unlimited. A lean SMTP sink (``smtp_sink_fast.py``, its own
process) accepts every message. Then:

1. **Ours**: ``W`` real ``mandant db_worker`` processes (``CAMPAIGN_SMTP_CONNECTIONS=C`` each);
   the clock starts at ``campaign_send`` (the button) and stops at the last message accepted
   by the sink. Every message personalised, DKIM-signed (RSA-2048), one delivery row each.
   Checked afterwards: the sink accepted exactly ``N`` messages and every delivery is sent.
   Peak memory (VmHWM) of each worker process.
2. **Raw baseline** (same run, same sink): ``W`` processes × ``C`` threads, each with one
   smtplib connection, sending pre-built messages (1,000 personalised and signed messages
   built before the clock starts, cycled) with ``sendmail``; no database at all.

Targets (issue 5, PostgreSQL): ≥ 2,500 messages/s end to end (expressed as the time for the
recipients: ≤ N / 2,500 s) and ≤ 150 MB per worker. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchlib import (
    PG_DEFAULT_URL,
    DbResult,
    Row,
    compare_databases,
    engine_version,
    load_averages,
    setup_django,
    write_result,
)
from smtp_sink_fast import Sink

PG_DB_NAME = "mandant_bench_campaign"
TARGET_RATE = 2500.0
TARGET_WORKER_MB = 150.0


def _ready_campaign(recipients: int) -> tuple[object, object, object]:
    from django_scopes import scope

    from mandant.accounts.models import User
    from mandant.campaigns.demo import demo_ready_to_send
    from mandant.core.actor import Actor
    from mandant.tenants.demo import (
        CUSTOMER_ADMIN_EMAIL,
        CUSTOMER_ADMIN_TENANT,
        OPERATOR_EMAIL,
        demo_load,
    )
    from mandant.tenants.models import Tenant
    from mandant.tenants.names import tenant_name_key

    demo_load()
    tenant = Tenant.objects.get(name_key=tenant_name_key(CUSTOMER_ADMIN_TENANT))
    Tenant.objects.filter(pk=tenant.pk).update(version="ENTERPRISE")
    tenant.refresh_from_db()
    admin = Actor(user=User.objects.get(email=CUSTOMER_ADMIN_EMAIL))
    operator = Actor(user=User.objects.get(email=OPERATOR_EMAIL))
    started = time.perf_counter()
    campaign = demo_ready_to_send(
        operator=operator,
        admin=admin,
        tenant=tenant,
        domain="news.autohaus-nord.example",
        contacts_count=recipients,
    )
    print(f"  {recipients:,} contacts ready in {time.perf_counter() - started:.1f} s", flush=True)
    with scope(tenant=tenant.pk):
        from mandant.campaigns.selectors import recipient_count

        assert recipient_count(campaign=campaign) == recipients
    return tenant, admin, campaign


def _worker(env: dict[str, str], log: Path, *, unsigned: bool) -> subprocess.Popen[bytes]:
    command = (
        [sys.executable, str(Path(__file__).with_name("unsigned_worker.py"))]
        if unsigned
        else [str(Path(sys.executable).with_name("mandant"))]
    )
    return subprocess.Popen(  # noqa: S603 - our own command line
        [
            *command,
            "db_worker",
            "--no-startup-delay",
            "--no-reload",
            "--interval",
            "0.05",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pids: list[int], *, reaped: bool = False) -> float:
    """utime + stime of the processes; with ``reaped``, also what their ended children used
    (PostgreSQL's postmaster reaps every backend that closed its connection)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if reaped:
            total += (int(fields[13]) + int(fields[14])) / tick  # cutime + cstime
    return total


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _cpu_split(workers: list[int], sink: int) -> dict[str, float]:
    return {
        "workers": _cpu_seconds(workers),
        "postgres": _cpu_seconds(_postgres_pids(), reaped=True),
        "sink": _cpu_seconds([sink]),
    }


def _wait_for(sink: Sink, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    shown = 0.0
    while sink.accepted < count and time.monotonic() < deadline:
        time.sleep(0.05)
        if os.environ.get("BENCH_TRACE") and time.monotonic() - shown >= 1:
            shown = time.monotonic()
            print(f"    {shown - started:5.1f} s: {sink.accepted:,}", flush=True)
    return sink.accepted >= count


def run_ours(args: argparse.Namespace, sink: Sink, workdir: Path) -> tuple[float, list[float]]:
    from django_scopes import scope, scopes_disabled

    from mandant.campaigns import services
    from mandant.campaigns.models import Delivery, DeliveryStatus

    tenant, admin, campaign = _ready_campaign(args.recipients)
    env = {
        **os.environ,
        "CAMPAIGN_SMTP_CONNECTIONS": str(args.connections),
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
    }
    workers = [
        _worker(env, workdir / f"worker-{i}.log", unsigned=args.unsigned)
        for i in range(args.workers)
    ]
    time.sleep(3)  # the workers import Django and start polling
    sink.reset()
    assert sink.process.pid is not None
    cpu_before = _cpu_split([w.pid for w in workers], sink.process.pid)
    pg_before = {pid: _cpu_seconds([pid]) for pid in _postgres_pids()}
    try:
        started = time.time()
        with scope(tenant=tenant.pk):  # type: ignore[attr-defined]
            services.campaign_send(actor=admin, tenant=tenant, campaign=campaign)  # type: ignore[arg-type]
        done = _wait_for(sink, args.recipients, timeout=args.recipients / 200 + 60)
        elapsed = sink.last.value - started
        peaks = [_peak_mb(w.pid) for w in workers]
        cpu_after = _cpu_split([w.pid for w in workers], sink.process.pid)
        if os.environ.get("BENCH_TRACE"):
            for pid in _postgres_pids():
                used = _cpu_seconds([pid]) - pg_before.get(pid, 0.0)
                if used > 0.2:
                    name = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                    print(f"    {used:5.1f} s  {name.decode(errors='replace')[:90]}")
        per_message = {k: (cpu_after[k] - cpu_before[k]) / args.recipients * 1e6 for k in cpu_after}
        print(
            "  CPU per message: " + ", ".join(f"{k} {v:.0f} µs" for k, v in per_message.items()),
            flush=True,
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
    if not done:
        logs = "\n".join((workdir / f"worker-{i}.log").read_text()[-3000:] for i in range(2))
        raise SystemExit(f"only {sink.accepted} of {args.recipients} accepted\n{logs}")
    time.sleep(0.5)
    with scopes_disabled():
        sent = Delivery.objects.filter(
            campaign_id=campaign.pk,  # type: ignore[attr-defined]
            status=DeliveryStatus.SENT,
        ).count()
    print(
        f"  {elapsed:.1f} s ({args.recipients / elapsed:,.0f} msg/s); sink accepted "
        f"{sink.accepted:,}; deliveries marked sent: {sent:,}",
        flush=True,
    )
    assert sink.accepted == args.recipients, "a message was sent twice"
    assert sent == args.recipients, "a delivery was not marked"
    return elapsed, peaks


def _prebuilt(count: int) -> tuple[str, list[tuple[str, bytes]]]:
    from django_scopes import scope, scopes_disabled

    from mandant.campaigns.message import build_campaign_message, personalise
    from mandant.campaigns.models import Campaign
    from mandant.contacts.models import Contact

    with scopes_disabled():
        campaign = Campaign.objects.select_related("tenant").get(name="Willkommen")
    with scope(tenant=campaign.tenant_id):
        skeleton = build_campaign_message(campaign)
        contacts = list(Contact.objects.filter(tenant_id=campaign.tenant_id)[:count])
    return skeleton.envelope_from, [(c.email, personalise(skeleton, c)) for c in contacts]


def _raw_process(
    port: int, sender: str, messages: list[tuple[str, bytes]], count: int, lanes: int
) -> None:
    per_lane = [count // lanes + (1 if i < count % lanes else 0) for i in range(lanes)]

    def lane(n: int, offset: int) -> None:
        smtp = smtplib.SMTP("127.0.0.1", port)
        for i in range(n):
            recipient, data = messages[(offset + i) % len(messages)]
            smtp.sendmail(sender, [recipient], data)
        smtp.quit()

    threads = [threading.Thread(target=lane, args=(n, i * 997)) for i, n in enumerate(per_lane)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_raw(args: argparse.Namespace, sink: Sink) -> float:
    import multiprocessing

    sender, messages = _prebuilt(1000)
    context = multiprocessing.get_context("fork")
    per_worker = [
        args.recipients // args.workers + (1 if i < args.recipients % args.workers else 0)
        for i in range(args.workers)
    ]
    sink.reset()
    started = time.time()
    processes = [
        context.Process(
            target=_raw_process, args=(sink.port, sender, messages, n, args.connections)
        )
        for n in per_worker
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    assert _wait_for(sink, args.recipients, 30)
    return sink.last.value - started


def profile(args: argparse.Namespace) -> None:
    """``--profile``: one lane in this process under cProfile (no task workers)."""
    import cProfile
    import pstats

    from django_scopes import scope, scopes_disabled

    from mandant.campaigns import pipeline, services
    from mandant.campaigns.models import Delivery

    tenant, admin, campaign = _ready_campaign(args.recipients)
    with scope(tenant=tenant.pk):  # type: ignore[attr-defined]
        services.campaign_send(actor=admin, tenant=tenant, campaign=campaign)  # type: ignore[arg-type]
    started = time.perf_counter()
    profiler = cProfile.Profile()
    profiler.enable()
    pipeline.prepare(campaign.pk)  # type: ignore[attr-defined]
    profiler.disable()
    print(f"  prepare: {time.perf_counter() - started:.2f} s")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    if os.environ.get("PREPARE_ONLY"):
        return
    with scopes_disabled():
        ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    started = time.perf_counter()
    profiler = cProfile.Profile()
    profiler.enable()
    report = pipeline.send_batch(campaign.pk, ids[0], ids[-1])  # type: ignore[attr-defined]
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"  {report.as_dict()} in {elapsed:.1f} s: {report.sent / elapsed:,.0f} msg/s")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def child(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    sink = Sink().start()
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{sink.port}"
    setup_django(workdir, args.database_url)
    if args.profile:
        profile(args)
        sink.stop()
        raise SystemExit(1)
    from django.db import connection

    result = DbResult(db=args.child, engine_version=engine_version())
    n = args.recipients
    try:
        print(
            f"  ours: {args.workers} worker processes × {args.connections} connections", flush=True
        )
        elapsed, peaks = run_ours(args, sink, workdir)
        connection.close()
        print("  raw smtplib baseline", flush=True)
        raw = run_raw(args, sink)
    finally:
        sink.stop()
    rate, raw_rate = n / elapsed, n / raw
    result.add(
        Row(
            key="campaign_time",
            label=f"{n:,}-recipient campaign, send → last message accepted",
            unit="s",
            value=elapsed,
            target=n / TARGET_RATE if args.child == "postgres" else None,
            baseline=raw,
            baseline_label="raw smtplib, pre-built",
            note=f"{rate:,.0f} msg/s; raw smtplib {raw_rate:,.0f} msg/s; "
            f"ours / raw = {rate / raw_rate:.2f}",
        )
    )
    result.add(
        Row(
            key="campaign_rate",
            label="messages per second",
            unit="msg/s",
            value=rate,
            baseline=raw_rate,
            baseline_label="raw",
        )
    )
    result.add(
        Row(
            key="worker_mb",
            label="peak memory per worker process",
            unit="MB",
            value=round(max(peaks), 1),
            target=TARGET_WORKER_MB,
            note="VmHWM of each worker: " + ", ".join(f"{p:.0f} MB" for p in peaks),
        )
    )
    result.info = {
        "workers": args.workers,
        "connections": args.connections,
        "recipients": n,
        "load": " ".join(load_averages()),
    }
    write_result(result, Path(args.json))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="postgres")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pg-url", default=PG_DEFAULT_URL)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--unsigned", action="store_true", help="switch DKIM signing off in the workers"
    )
    parser.add_argument("--profile", action="store_true", help="one lane under cProfile")
    parser.add_argument("--child")
    parser.add_argument("--workdir")
    parser.add_argument("--database-url")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    dbs = ["postgres", "sqlite"] if args.db == "both" else [args.db]
    extra = [
        "--recipients",
        str(args.recipients),
        "--workers",
        str(args.workers),
        "--connections",
        str(args.connections),
        *(["--profile"] if args.profile else []),
        *(["--unsigned"] if args.unsigned else []),
    ]
    return compare_databases(
        Path(__file__),
        dbs=dbs,
        pg_url=args.pg_url,
        pg_db_name=PG_DB_NAME,
        extra=extra,
        keep=args.keep,
    )


if __name__ == "__main__":
    sys.exit(main())

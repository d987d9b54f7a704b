#!/usr/bin/env python
"""Performance benchmark for the content library (a script, not a test).

    .venv/bin/python bench/content_bench.py [--db sqlite|postgres|both] [--keep]

For each database the script starts a child process with its own, fresh database (a SQLite
file in a temporary directory, or a PostgreSQL database it creates and drops), runs the
migrations, creates a partner with ``--background`` sub-tenants (through
``tenant_create_many``, so their content libraries are filled) and measures:

1. Provisioning the standard content set: ``tenant_create`` of a STANDARD tenant with the
   provisioning and with it switched off (the baseline), interleaved, median of
   ``--creations`` each; the provisioning's own time inside the call; its queries; the
   once-per-process load of the files; ``tenant_create_many`` with and without it.
   Target: ≤ 15 ms added to creating a STANDARD tenant (issue 4).

The exit status is 1 when a target is missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import (
    PG_DEFAULT_URL,
    DbResult,
    Row,
    compare_databases,
    engine_version,
    load_averages,
    median_ms,
    p95_ms,
    setup_django,
    write_result,
)
from content_copy import bench_copy

PG_DB_NAME = "mandant_bench_content"
TARGET_PROVISIONING_MS = 15.0
WARM_UP = 10


def build_world(result: DbResult, background: int) -> dict[str, Any]:
    """A partner (Customer Service user, tenant management on) with ``background``
    sub-tenants created by ``tenant_create_many``, half with the provisioning switched off:
    the content tables hold realistic amounts of rows, and the import path is measured too."""
    from mandant.accounts.roles import Role
    from mandant.accounts.services import membership_set, user_create
    from mandant.core.actor import Actor
    from mandant.tenants.services import (
        NewTenant,
        root_tenant,
        tenant_create,
        tenant_create_many,
        tenant_set_management_active,
    )

    operator = user_create(email="olga@bench.example", password=None, is_staff=True)
    op = Actor(user=operator)
    partner = tenant_create(
        actor=op,
        name="Bench Partner",
        type="STANDARD",
        version="PROFESSIONAL",
        master=root_tenant(),
    )
    tenant_set_management_active(actor=op, tenant=partner, active=True)
    user = user_create(email="paula@bench.example", password=None, first_name="Paula")
    membership_set(actor=op, tenant=partner, user=user, role=Role.CUSTOMER_SERVICE)
    actor = Actor(user=user)

    batch = 250
    timings: dict[bool, list[float]] = {True: [], False: []}
    for start in range(0, background, batch):
        provision = (start // batch) % 2 == 0
        rows = [NewTenant(name=f"Hintergrundkunde {n:06d}") for n in range(start, start + batch)]
        with provisioning(enabled=provision):
            began = time.perf_counter()
            created = tenant_create_many(actor=actor, master=partner, rows=rows)
            timings[provision].append((time.perf_counter() - began) / len(rows))
        assert all(not isinstance(row, Exception) for row in created), created
    many = None
    if timings[True] and timings[False]:
        many = (median_ms(timings[True]), median_ms(timings[False]), background, batch)
    return {"partner": partner, "actor": actor, "many": many}


@contextmanager
def provisioning(*, enabled: bool, timer: Callable[[float], None] | None = None) -> Iterator[None]:
    """Switch the standard content provisioning of tenant creation off, or time each call."""
    from mandant.tenants import services

    real = services.standard_content_provision

    def skipped(**kwargs: Any) -> int:
        return 0

    def timed(**kwargs: Any) -> int:
        began = time.perf_counter()
        count = real(**kwargs)
        if timer is not None:
            timer(time.perf_counter() - began)
        return count

    services.standard_content_provision = timed if enabled else skipped  # type: ignore[assignment]
    try:
        yield
    finally:
        services.standard_content_provision = real  # type: ignore[assignment]


def bench_provisioning(result: DbResult, world: dict[str, Any], creations: int) -> None:
    """What provisioning the standard content set adds to ``tenant_create`` of a STANDARD
    tenant: interleaved creations with it, without it (baseline), and of CUSTOM tenants."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_scopes import scope

    from mandant.content.models import ContentItem
    from mandant.content.standard import STANDARD_DIR, load_standard_set, standard_set
    from mandant.tenants.services import tenant_create

    print("1. standard content provisioning", flush=True)
    partner, actor = world["partner"], world["actor"]
    variants = ("with", "without", "custom")
    timings: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    inside: list[float] = []
    counter = 0

    def create(variant: str) -> Any:
        nonlocal counter
        counter += 1
        kind = "CUSTOM" if variant == "custom" else "STANDARD"
        return tenant_create(
            actor=actor,
            name=f"Messkunde {counter:06d} {variant}",
            type=kind,
            version="BASIC",
            master=partner,
        )

    for index in range(WARM_UP + creations):
        # Rotate the order within a round, so no variant always runs first.
        for offset in range(len(variants)):
            variant = variants[(index + offset) % len(variants)]
            samples: list[float] = []
            with provisioning(enabled=variant != "without", timer=samples.append):
                started, cpu_started = time.perf_counter(), time.process_time()
                create(variant)
                elapsed = time.perf_counter() - started
                cpu_elapsed = time.process_time() - cpu_started
            if index >= WARM_UP:
                timings[variant].append(elapsed)
                cpu[variant].append(cpu_elapsed)
                if variant == "with":
                    inside.extend(samples)
    items = len(standard_set().items)

    # Queries of one provisioning, and a check that it did its job.
    with provisioning(enabled=True), CaptureQueriesContext(connection) as ctx:
        tenant = create("with")
    with scope(tenant=tenant.pk):
        assert ContentItem.objects.filter(tenant=tenant).count() == items
    # The queries of tenant_create itself, to name the provisioning's share.
    with provisioning(enabled=False), CaptureQueriesContext(connection) as base_ctx:
        create("without")
    queries = [q["sql"] for q in ctx.captured_queries]
    added_queries = len(queries) - len(base_ctx.captured_queries)

    loads: list[float] = []
    for _ in range(5):
        started = time.perf_counter()
        load_standard_set(STANDARD_DIR)
        loads.append(time.perf_counter() - started)

    with_ms, without_ms = median_ms(timings["with"]), median_ms(timings["without"])
    inside_ms = median_ms(inside)
    result.add(
        Row(
            "prov_inside",
            "1a. standard_content_provision() inside tenant_create (commit not included), median",
            "ms",
            inside_ms,
            TARGET_PROVISIONING_MS,
            None,
            "",
            f"standard_content_provision() timed inside {creations} tenant_create calls; "
            f"{items} items per tenant; p95 {p95_ms(inside):.1f} ms",
        )
    )
    result.add(
        Row(
            "prov_added",
            "1b. tenant_create STANDARD: added by provisioning (difference of medians)",
            "ms",
            with_ms - without_ms,
            TARGET_PROVISIONING_MS,
            None,
            "",
            f"medians {with_ms:.1f} ms with, {without_ms:.1f} ms without provisioning; CPU time "
            f"of this process {median_ms(cpu['with']):.1f} / {median_ms(cpu['without']):.1f} ms",
        )
    )
    result.add(
        Row(
            "create_with",
            "1c. tenant_create STANDARD with provisioning, median",
            "ms",
            with_ms,
            None,
            without_ms,
            "without provisioning",
            f"p95 {p95_ms(timings['with']):.1f} ms with, {p95_ms(timings['without']):.1f} ms "
            f"without; {creations} of each after {WARM_UP} warm-up, interleaved",
        )
    )
    result.add(
        Row(
            "create_custom",
            "1d. tenant_create CUSTOM (nothing provisioned), median",
            "ms",
            median_ms(timings["custom"]),
        )
    )
    result.add(
        Row(
            "prov_queries",
            "1e. SQL queries added by provisioning one tenant",
            "queries",
            added_queries,
            None,
            None,
            "",
            f"{len(queries)} queries for the whole tenant_create",
        )
    )
    if world["many"] is not None:
        many_with, many_without, background, batch = world["many"]
        result.add(
            Row(
                "many_added",
                "1f. tenant_create_many: added per STANDARD tenant",
                "ms",
                many_with - many_without,
                None,
                many_without,
                "per tenant without provisioning",
                f"{background:,} tenants in batches of {batch}, alternately with and without "
                f"provisioning; {many_with:.2f} ms per tenant with it",
            )
        )
    result.add(
        Row(
            "prov_load",
            "1g. reading and checking the files (once per process), median",
            "ms",
            median_ms(loads),
        )
    )


def child_main(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    result = DbResult(db=args.child)
    started = time.perf_counter()
    setup_django(workdir, args.database_url)
    result.engine_version = engine_version()
    print(
        f"  {result.engine_version}; migrated in {time.perf_counter() - started:.1f} s", flush=True
    )
    result.info["load average at start"] = load_averages()[0]
    world = build_world(result, args.background)
    bench_provisioning(result, world, args.creations)
    bench_copy(result, targets=args.targets, items=args.items, naive=args.naive)
    result.info["load average at end"] = load_averages()[0]
    result.info["child run"] = f"{time.perf_counter() - started:.0f} s"
    write_result(result, Path(args.json))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=PG_DEFAULT_URL,
        help="PostgreSQL server URL without database (default %(default)s)",
    )
    parser.add_argument("--creations", type=int, default=200)
    parser.add_argument("--background", type=int, default=2000)
    parser.add_argument("--targets", type=int, default=1000, help="Copy Content: sub-tenants")
    parser.add_argument("--items", type=int, default=100, help="Copy Content: items")
    parser.add_argument(
        "--naive", type=int, default=20, help="Copy Content: targets of the naive baseline"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args)
    return compare_databases(
        Path(__file__).resolve(),
        dbs=["sqlite", "postgres"] if args.db == "both" else [args.db],
        pg_url=args.pg_url,
        pg_db_name=PG_DB_NAME,
        extra=[
            *("--creations", str(args.creations), "--background", str(args.background)),
            *("--targets", str(args.targets), "--items", str(args.items)),
            *("--naive", str(args.naive)),
        ],
        keep=args.keep,
    )


if __name__ == "__main__":
    sys.exit(main())

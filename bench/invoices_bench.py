#!/usr/bin/env python
"""Performance benchmark for the monthly invoice run (a script, not a test).

    .venv/bin/python bench/invoices_bench.py [--db sqlite|postgres|both] [--keep]

For each database the script starts a child process with its own, fresh database (a SQLite
file in a temporary directory, or a PostgreSQL database it creates and drops), runs the
migrations, inserts a platform of ``--tenants`` tenants under ``--partners`` partners (each
partner with a billing account and Tenant management; add-ons, trials, mid-month
activations, deactivations and creations, a price change on the 16th, usage records) and
measures:

1. ``invoicing.services.invoices_run`` of the previous month without documents, twice on
   fresh data (the second time counting its SQL queries) and once more as an idempotent
   re-run. Target (issue 6): ≤ 30 s for 10,000 tenants under 200 partners.
2. A naive baseline: per tenant, per day and per product one ORM query for the price, the
   activations in force and the billing account (``naive_tenant_charges``), on
   ``--naive`` tenants, extrapolated to all tenants (labelled so).
3. The PDF rendering (≤ 300 ms per invoice, in background tasks) through
   ``bench/invoice_pdf.py:bench_pdf`` when that module exists.

The exit status is 1 when a target is missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

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

PG_DB_NAME = "mandant_bench_invoices"
TARGET_RUN_S = 30.0


def fast_insert(model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT rows with executemany; columns not given get their default (bulk_create is
    several times slower for 10,000s of rows, as it prepares every value through the ORM)."""
    from django.db import connection
    from django.utils import timezone

    if not rows:
        return
    now = timezone.now()
    given = list(rows[0])
    constants = {}
    for f in model._meta.concrete_fields:
        if f.attname in given or f.primary_key:
            continue
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            value = now
        else:
            value = f.get_default()
        constants[f.attname] = f.get_db_prep_save(value, connection)
    columns = [model._meta.get_field(name).column for name in given] + [
        model._meta.get_field(name).column for name in constants
    ]
    qn = connection.ops.quote_name
    table, names = qn(model._meta.db_table), ", ".join(qn(c) for c in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    tail = list(constants.values())
    prepared = {
        name: model._meta.get_field(name) for name in given
    }  # dates and decimals through the field, as the ORM would
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(
                sql,
                [
                    [prepared[k].get_db_prep_save(v, connection) for k, v in row.items()] + tail
                    for row in rows[start : start + 5000]
                ],
            )


def bench_month() -> tuple[str, datetime, datetime]:
    """The previous month (a month that is over) and its bounds in TIME_ZONE."""
    from django.utils import timezone

    from mandant.invoicing import calculation as calc
    from mandant.invoicing.billable import month_bounds

    month = calc.previous_month(timezone.localdate())
    year, number = calc.parse_month(month)
    bounds = month_bounds(year, number)
    return month, bounds.start, bounds.end


def build_world(result: DbResult, tenants: int, partners: int) -> dict[str, Any]:
    """Tenants, accounts, activations, a price change and usage, inserted directly."""
    from django.db import connection, transaction
    from django.utils.text import slugify

    from mandant.billing.models import Activation, BillingAccount, Product, ProductPrice
    from mandant.billing.services import ensure_price_list
    from mandant.invoicing.models import UsageRecord
    from mandant.tenants.models import PATH_STEP_WIDTH, Charset, Tenant, TenantStatus
    from mandant.tenants.names import tenant_name_key
    from mandant.tenants.services import root_tenant

    rng = random.Random(20260301)  # noqa: S311 - reproducible data
    started = time.perf_counter()
    ensure_price_list()
    month, month_start, month_end = bench_month()
    days = (month_end - month_start).days
    before = month_start - timedelta(days=40)
    root = root_tenant()
    products = {p.key: p for p in Product.objects.all()}
    versions = ["BASIC"] * 6 + ["PROFESSIONAL"] * 3 + ["ENTERPRISE"]

    def mid_month(low: int = 2, high: int | None = None) -> datetime:
        day = rng.randint(low, high or days - 1)
        return month_start + timedelta(days=day - 1, hours=rng.randint(0, 23))

    next_id = (Tenant.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    rows: list[dict[str, Any]] = []
    info: list[tuple[int, str, int, str]] = []  # id, path, depth, version

    def add(parent_id: int, path: str, depth: int, name: str, created: datetime) -> int:
        nonlocal next_id
        version = rng.choice(versions)
        rows.append(
            {
                "id": next_id,
                "name": name,
                "name_key": tenant_name_key(name),
                "slug": slugify(name),
                "type": "STANDARD",
                "version": version,
                "parent_id": parent_id,
                "path": path,
                "depth": depth,
                "child_count": 0,
                "charset": Charset.UTF_8.value,
                "status": TenantStatus.READY.value,
                "tenant_management_active": depth == 1,
                "created_at": created,
            }
        )
        info.append((next_id, path, depth, version))
        next_id += 1
        return next_id - 1

    per_partner = (tenants - partners) // partners
    partner_ids = []
    for p in range(1, partners + 1):
        partner_path = root.path + str(p).zfill(PATH_STEP_WIDTH)
        partner_id = add(root.pk, partner_path, 1, f"Partner {p:03d} Digitalagentur", before)
        partner_ids.append(partner_id)
        customers = per_partner + (1 if p <= (tenants - partners) % partners else 0)
        step = 0
        last_customer: tuple[int, str] | None = None
        for c in range(customers):
            # One in ten a branch (depth 3) below the previous customer.
            created = mid_month() if rng.random() < 0.05 else before
            if last_customer is not None and rng.random() < 0.1:
                parent_id, parent_path = last_customer
                path = parent_path + str(c + 1).zfill(PATH_STEP_WIDTH)
                add(parent_id, path, 3, f"Filiale {p:03d}-{c:05d}", created)
                continue
            step += 1
            path = partner_path + str(step).zfill(PATH_STEP_WIDTH)
            customer_id = add(partner_id, path, 2, f"Kunde {p:03d}-{c:05d}", created)
            last_customer = (customer_id, path)

    accounts = [
        {
            "tenant_id": partner_id,
            "name": f"Partner {index:03d} GmbH",
            "address": "Hauptstraße 1\n10115 Berlin",
            "country": "DE" if index % 10 else "AT",
            "vat_id": "" if index % 10 else f"ATU{10_000_000 + index}",
            "email": f"billing@partner{index:03d}.example",
            "created_at": before,
        }
        for index, partner_id in enumerate(partner_ids, start=1)
    ]
    # Two percent of the customers pay their add-ons themselves.
    for tenant_id, _path, depth, _version in info:
        if depth == 2 and rng.random() < 0.02:
            accounts.append(
                {
                    "tenant_id": tenant_id,
                    "name": f"Kunde {tenant_id} AG",
                    "address": "Ring 2\n80331 München",
                    "country": "DE",
                    "vat_id": "",
                    "email": f"billing@kunde{tenant_id}.example",
                    "created_at": before,
                }
            )

    activations: list[dict[str, Any]] = []

    def activation(tenant_id: int, key: str, start: datetime, **extra: Any) -> None:
        activations.append(
            {
                "tenant_id": tenant_id,
                "product_id": products[key].pk,
                "trial": extra.get("trial", False),
                "started_at": start,
                "ends_at": extra.get("ends_at"),
                "ended_at": extra.get("ended_at"),
                "end_reason": extra.get("end_reason", ""),
                "charge_setup_fee": extra.get("charge_setup_fee", False),
                "created_at": start,
            }
        )

    counts = {"addons": 0, "mid-month activations": 0, "mid-month ends": 0, "trials": 0}
    for index, partner_id in enumerate(partner_ids):
        if index in (7, 77):  # Tenant management ends mid-month for two partners
            activation(
                partner_id,
                "tenant_management",
                before,
                ended_at=mid_month(),
                end_reason="deactivated",
            )
            counts["mid-month ends"] += 1
        else:
            activation(partner_id, "tenant_management", before)
    for tenant_id, _path, depth, version in info:
        if depth < 2:
            continue
        roll = rng.random()
        addon = "copy_content" if version == "BASIC" else "dedicated_ip"
        if roll < 0.15:
            activation(tenant_id, addon, before)
            counts["addons"] += 1
        elif roll < 0.20:
            activation(tenant_id, addon, mid_month(), charge_setup_fee=True)
            counts["mid-month activations"] += 1
        elif roll < 0.23:
            end = mid_month()
            activation(
                tenant_id, addon, before, ended_at=end, ends_at=end, end_reason="deactivated"
            )
            counts["mid-month ends"] += 1
        elif roll < 0.28 and version == "BASIC":
            start = mid_month(high=10)
            activation(tenant_id, "tracking", start, trial=True, ends_at=start + timedelta(14))
            counts["trials"] += 1

    usage = []
    for tenant_id, _path, depth, _version in info:
        if depth >= 2 and rng.random() < 0.3:
            for day in (3, 12, 24):
                usage.append(
                    {
                        "tenant_id": tenant_id,
                        "metric": "mails",
                        "day": (month_start + timedelta(days=day - 1)).date(),
                        "quantity": rng.randint(1_000, 15_000),
                    }
                )

    with transaction.atomic():
        fast_insert(Tenant, rows)
        Tenant.objects.filter(pk=root.pk).update(child_count=partners)
        fast_insert(BillingAccount, accounts)
        fast_insert(Activation, activations)
        fast_insert(UsageRecord, usage)
        # A price change of the BASIC edition on the 16th: those lines split in two.
        ProductPrice.objects.create(
            product=products["basic"],
            valid_from=(month_start + timedelta(days=15)).date(),
            monthly_fee=Decimal("32.00"),
            vat_rate=Decimal("19.00"),
        )
    if connection.vendor == "postgresql":
        from django.core.management.color import no_style

        models = [Tenant, BillingAccount, Activation, UsageRecord]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)
            for model in models:
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")  # noqa: S608
    built = time.perf_counter() - started
    summary = (
        f"{len(rows):,} tenants under {partners} partners, {len(accounts)} billing accounts, "
        f"{len(activations):,} activations ({', '.join(f'{v:,} {k}' for k, v in counts.items())}"
        f"), {len(usage):,} usage records; month {month}; built in {built:.1f} s"
    )
    print(f"  {summary}", flush=True)
    result.info.update({"world": summary})
    return {"month": month, "tenant_ids": [i[0] for i in info], "accounts": len(accounts)}


def wipe_invoices() -> None:
    """Remove the invoices for the next measurement (raw SQL: the models refuse deletes)."""
    from django.db import connection, transaction

    from mandant.invoicing.models import Invoice, InvoiceLine, NumberSeries

    with transaction.atomic(), connection.cursor() as cursor:
        for model in (InvoiceLine, Invoice, NumberSeries):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608


def check_invoices(expected_accounts: int) -> tuple[int, int, Decimal]:
    """The run's invariants: one invoice per billable account, gapless numbers, totals that
    are the sums of their lines."""
    from django.db.models import Count, Sum
    from django_scopes import scopes_disabled

    from mandant.invoicing.models import Invoice, InvoiceLine

    with scopes_disabled():
        invoices = list(Invoice.objects.order_by("sequence").values_list("sequence", "net_total"))
        sums = dict(
            InvoiceLine.objects.values("invoice__sequence")
            .annotate(net=Sum("net_amount"), n=Count("id"))
            .values_list("invoice__sequence", "net")
        )
        lines = InvoiceLine.objects.count()
    assert [s for s, _net in invoices] == list(range(1, len(invoices) + 1)), "gap in numbers"
    assert all(sums[s] == net for s, net in invoices), "totals differ from their lines"
    assert len(invoices) <= expected_accounts
    return len(invoices), lines, sum((net for _s, net in invoices), Decimal("0"))


def bench_run(result: DbResult, world: dict[str, Any]) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from mandant.invoicing import services
    from mandant.invoicing.billable import month_billing
    from mandant.invoicing.calculation import parse_month

    month = world["month"]
    print(f"1. invoice run of {month}", flush=True)
    # The read-and-compute part alone (the drafts), for the breakdown.
    started = time.perf_counter()
    billing = month_billing(*parse_month(month))
    compute = time.perf_counter() - started

    started, cpu = time.perf_counter(), time.process_time()
    summary = services.invoices_run(month=month, render_documents=False)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    invoices, lines, net = check_invoices(world["accounts"])
    assert summary.created == invoices == len(billing.drafts)

    wipe_invoices()
    with CaptureQueriesContext(connection) as ctx:
        again = services.invoices_run(month=month, render_documents=False)
    queries = len(ctx.captured_queries)
    reset_queries()
    assert again.created == invoices

    started = time.perf_counter()
    rerun = services.invoices_run(month=month, render_documents=False)
    rerun_s = time.perf_counter() - started
    assert rerun.created == 0 and rerun.existing == invoices

    world["invoices"] = invoices
    world["run_s"] = elapsed
    result.add(
        Row(
            "run",
            f"1a. invoices_run, {len(world['tenant_ids']):,} tenants, no PDFs",
            "s",
            elapsed,
            TARGET_RUN_S,
            None,
            "",
            f"{invoices} invoices, {lines:,} lines, net {net:,.2f} EUR; CPU time of this "
            f"process {cpu:.1f} s; read and compute alone {compute:.1f} s; "
            f"{queries} SQL queries in a second run on the same data",
        )
    )
    result.add(Row("queries", "1b. SQL queries of the whole run", "queries", queries, None, None))
    result.add(
        Row(
            "rerun",
            "1c. the same month again (idempotent: nothing created)",
            "s",
            rerun_s,
        )
    )


def naive_tenant_charges(tenant: Any, month_start: datetime, days: int) -> Decimal:
    """The naive way: per day, the account, the master with Tenant management, and for each
    product the activations in force and the price — one ORM query each."""
    from django_scopes import scopes_disabled

    from mandant.billing.models import Activation, Product, ProductKind
    from mandant.billing.selectors import billing_account_for, edition_product, price_on
    from mandant.invoicing.calculation import prorated_net
    from mandant.tenants.models import Tenant

    total = Decimal("0")
    products = list(Product.objects.exclude(kind=ProductKind.USAGE))
    edition = edition_product(tenant.version)
    for offset in range(days):
        start = month_start + timedelta(days=offset)
        day = start.date()
        if billing_account_for(tenant) is None:
            continue
        masters = Tenant.objects.filter(
            path__in=tenant.ancestor_paths()[1:-1], tenant_management_active=True
        )
        with scopes_disabled():
            for master in masters:
                Activation.objects.filter(
                    tenant=master,
                    product__key="tenant_management",
                    trial=False,
                    started_at__lt=start + timedelta(days=1),
                ).exists()
            for product in products:
                in_force = Activation.objects.filter(
                    tenant=tenant,
                    product=product,
                    trial=False,
                    started_at__lt=start + timedelta(days=1),
                ).exists()
                price = price_on(product, day)
                if in_force and price is not None and price.monthly_fee:
                    total += prorated_net(price.monthly_fee, 1, days)
        if edition is not None:
            price = price_on(edition, day)
            if price is not None:
                total += prorated_net(price.monthly_fee, 1, days)
    return total


def bench_naive(result: DbResult, world: dict[str, Any], sample: int) -> None:
    from mandant.tenants.models import Tenant

    print(f"2. naive baseline on {sample} tenants", flush=True)
    _month, month_start, month_end = bench_month()
    days = (month_end - month_start).days
    rng = random.Random(7)  # noqa: S311
    ids = rng.sample(world["tenant_ids"], sample)
    tenants = list(Tenant.objects.filter(pk__in=ids).defer("logo_png"))
    started = time.perf_counter()
    for tenant in tenants:
        naive_tenant_charges(tenant, month_start, days)
    per_tenant = (time.perf_counter() - started) / len(tenants)
    extrapolated = per_tenant * len(world["tenant_ids"])
    row = result.rows[0]
    row.baseline = extrapolated
    row.baseline_label = f"naive per tenant/day/product ORM, {sample} tenants extrapolated"
    result.add(
        Row(
            "naive",
            f"2. naive baseline, {sample} tenants × {days} days, extrapolated to all",
            "s",
            extrapolated,
            None,
            None,
            "",
            f"{per_tenant * 1000:.0f} ms per tenant; {extrapolated / world['run_s']:.0f}× the "
            "set-based run",
        )
    )


def bench_documents(result: DbResult, world: dict[str, Any], invoices: int) -> None:
    try:
        from invoice_pdf import bench_pdf  # bench/invoice_pdf.py (the PDF part)
    except ImportError as exc:
        print(f"3. PDFs: skipped, bench/invoice_pdf.py is not available ({exc})", flush=True)
        return
    print("3. PDF rendering", flush=True)
    bench_pdf(result, invoices=invoices)


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
    world = build_world(result, args.tenants, args.partners)
    bench_run(result, world)
    if args.naive:
        bench_naive(result, world, args.naive)
    if args.pdfs:
        bench_documents(result, world, args.pdfs)
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
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--partners", type=int, default=200)
    parser.add_argument("--naive", type=int, default=20, help="tenants of the naive baseline")
    parser.add_argument("--pdfs", type=int, default=20, help="invoices rendered as PDFs")
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
            *("--tenants", str(args.tenants), "--partners", str(args.partners)),
            *("--naive", str(args.naive), "--pdfs", str(args.pdfs)),
        ],
        keep=args.keep,
    )


if __name__ == "__main__":
    sys.exit(main())

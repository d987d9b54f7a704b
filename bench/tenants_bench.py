#!/usr/bin/env python
"""Performance benchmark for tenant management (a script, not a test).

    .venv/bin/python bench/tenants_bench.py [--db sqlite|postgres|both] [--keep]

For each database the script starts a child process that gets its own, fresh database
(a SQLite file in a temporary directory, or a PostgreSQL database it creates and drops),
runs the migrations, builds a tree of 100,000 tenants and measures:

1. ``tenant_create`` of a STANDARD tenant (median and p95 of 300 after a warm-up);
2. the Mandantenverwaltung list page for a partner, with and without a search;
3. the effective-role check for a tenant at depth 6 (queries and time);
4. ``mandant tenant create-many`` of 10,000 tenants as a subprocess.

Each figure is compared with its target and with a naive baseline measured in the same run
(the naive implementations are in this file, see ``naive_*``). The exit status is 1 when a
target is missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchlib import (
    PG_DEFAULT_URL,
    REPO,
    DbResult,
    Row,
    engine_version,
    load_averages,
    machine,
    median_ms,
    p95_ms,
    pg_drop,
    pg_reachable,
    pg_recreate,
    print_table,
    setup_django,
)

BIN = Path(sys.executable).parent
PG_DB_NAME = "mandant_bench"
PG_ICU_DB_NAME = "mandant_bench_icu"
PARTNER_EMAIL = "paula@bench-partner.example"
SEARCH_COMMON = "autohaus"
SEARCH_RARE = "autohaus müller berlin"

# --------------------------------------------------------------------------------------
# Results


# --------------------------------------------------------------------------------------
# Parent process: one child per database, then the table


def run_child(args: argparse.Namespace, db: str, workdir: Path, database_url: str) -> DbResult:
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
        "--tenants",
        str(args.tenants),
        "--creations",
        str(args.creations),
        "--cli-count",
        str(args.cli_count),
        "--api-count",
        str(args.api_count),
        "--proc-count",
        str(args.proc_count),
        "--loop-count",
        str(args.loop_count),
    ]
    completed = subprocess.run(cmd, cwd=REPO, check=False)  # noqa: S603
    if completed.returncode != 0 or not out.exists():
        raise SystemExit(f"benchmark child for {db} failed (exit {completed.returncode})")
    data = json.loads(out.read_text())
    result = DbResult(db=data["db"], engine_version=data["engine_version"], info=data["info"])
    result.plans = data["plans"]
    result.rows = [Row(**row) for row in data["rows"]]
    return result


def collation_check(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Run the subtree query in databases whose default collation is not C."""
    lines: list[str] = []
    variants = [
        (
            "ICU de-DE",
            "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
            "ICU_LOCALE 'de-DE' LOCALE 'C.UTF-8'",
        ),
        (
            "ICU en-US",
            "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
        ),
        (
            "libc en_US.UTF-8",
            "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'",
        ),
        (
            "ICU und-u-kn (numeric ordering)",
            "TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'und-u-kn-true' LOCALE 'C.UTF-8'",
        ),
    ]
    for label, options in variants:
        try:
            pg_recreate(args.pg_url, PG_ICU_DB_NAME, options)
        except Exception as exc:  # noqa: BLE001 - the locale may not exist here
            lines.append(f"{label}: skipped ({str(exc).splitlines()[0]})")
            continue
        out = workdir / "collation.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--collation-child",
            "--workdir",
            str(workdir),
            "--database-url",
            f"{args.pg_url}/{PG_ICU_DB_NAME}",
            "--json",
            str(out),
        ]
        try:
            completed = subprocess.run(cmd, cwd=REPO, check=False)  # noqa: S603
            if completed.returncode != 0:
                lines.append(f"{label}: check failed to run (exit {completed.returncode})")
                continue
            lines.append(f"{label}: {json.loads(out.read_text())['summary']}")
        finally:
            if not args.keep:
                pg_drop(args.pg_url, PG_ICU_DB_NAME)
    return lines


def parent_main(args: argparse.Namespace) -> int:
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results: list[DbResult] = []
    workdir = Path(tempfile.mkdtemp(prefix="mandant-bench-"))
    started = time.perf_counter()
    collation_lines: list[str] = []
    try:
        for db in dbs:
            print(f"\n=== {db} ===", flush=True)
            if db == "sqlite":
                url = f"sqlite:///{workdir / 'bench.sqlite3'}"
                results.append(run_child(args, db, workdir, url))
            else:
                if pg_reachable(args.pg_url) is None:
                    continue
                pg_recreate(args.pg_url, PG_DB_NAME)
                try:
                    results.append(run_child(args, db, workdir, f"{args.pg_url}/{PG_DB_NAME}"))
                finally:
                    if not args.keep:
                        pg_drop(args.pg_url, PG_DB_NAME)
                if not args.skip_collation:
                    print("\n=== subtree query under other PostgreSQL collations ===", flush=True)
                    collation_lines = collation_check(args, workdir)
                    for line in collation_lines:
                        print(f"  {line}")
    finally:
        if args.keep:
            kept_db = f" and database {PG_DB_NAME}" if "postgres" in dbs else ""
            print(f"\nkept: {workdir}{kept_db}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not results:
        print("nothing measured")
        return 1
    print(f"\n=== Results (total run {time.perf_counter() - started:.0f} s) ===")
    print(f"machine: {machine()}")
    for result in results:
        info = ", ".join(f"{k}: {v}" for k, v in result.info.items())
        print(f"{result.db}: {result.engine_version}; {info}")
    passed = print_table(results)
    for result in results:
        for name, plan in result.plans.items():
            print(f"\n--- {result.db}: plan of {name}\n{plan}")
    if collation_lines:
        print("\nSubtree query under other collations:")
        for line in collation_lines:
            print(f"- {line}")
    print("\nALL TARGETS MET" if passed else "\nSOME TARGETS MISSED")
    return 0 if passed else 1


# --------------------------------------------------------------------------------------
# Child process: Django set up against one fresh database


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("DJANGO_SETTINGS_MODULE",):
        env.pop(key, None)
    return env


WORDS_BRANCH = [
    "Bäckerei",
    "Autohaus",
    "Reisebüro",
    "Kanzlei",
    "Praxis",
    "Hotel",
    "Weingut",
    "Verlag",
    "Agentur",
    "Studio",
    "Apotheke",
    "Optik",
    "Fahrschule",
    "Brauerei",
    "Gärtnerei",
]
WORDS_FAMILY = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
]
WORDS_CITY = [
    "Berlin",
    "Hamburg",
    "München",
    "Köln",
    "Frankfurt",
    "Stuttgart",
    "Düsseldorf",
    "Leipzig",
    "Dortmund",
    "Essen",
    "Bremen",
    "Dresden",
    "Hannover",
    "Nürnberg",
    "Duisburg",
    "Bochum",
]


@dataclass
class Node:
    pk: int
    parent_id: int | None
    path: str
    depth: int
    name: str
    child_count: int = 0


def plan_tree(
    rng: random.Random, root: Node, total: int, partners: int, big_share: float
) -> list[Node]:
    """Rows of a tree of ``total`` tenants (root included), in depth-first (path) order.

    ``partners`` tenants at depth 1; the first gets ``big_share`` of all tenants. Below a
    partner: many customers (depth 2), each with a heavy-tailed number of descendants down
    to depth 6.
    """
    from mandant.tenants.models import PATH_STEP_WIDTH

    nodes: list[Node] = []
    next_pk = root.pk + 1
    seq = 0

    def make(parent: Node, step: int, name: str | None = None) -> Node:
        nonlocal next_pk, seq
        seq += 1
        if name is None:
            name = (
                f"{rng.choice(WORDS_BRANCH)} {rng.choice(WORDS_FAMILY)} "
                f"{rng.choice(WORDS_CITY)} {seq:06d}"
            )
        node = Node(
            pk=next_pk,
            parent_id=parent.pk,
            path=parent.path + str(step).zfill(PATH_STEP_WIDTH),
            depth=parent.depth + 1,
            name=name,
        )
        next_pk += 1
        nodes.append(node)
        return node

    def grow(node: Node, budget: int) -> None:
        if budget <= 0:
            return
        if node.depth >= 5:
            k = budget  # the last level: all leaves at depth 6
        elif node.depth == 1:
            k = max(1, budget // 5)
        else:
            k = min(budget, rng.randint(1, 5))
        shares = [0] * k
        rest = budget - k
        if rest:
            weights = [rng.paretovariate(1.1) for _ in range(k)]
            for index in rng.choices(range(k), weights, k=rest):
                shares[index] += 1
        node.child_count = k
        for step in range(1, k + 1):
            grow(make(node, step), shares[step - 1])

    remaining = total - 1 - partners
    big = int(total * big_share)
    budgets = [big] + [(remaining - big) // (partners - 1)] * (partners - 1)
    budgets[1] += remaining - sum(budgets)
    root.child_count = partners
    for index, budget in enumerate(budgets, start=1):
        partner = make(root, index, name=f"Partner {index:02d} Digitalagentur")
        grow(partner, budget)
    return nodes


def fast_insert(model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT rows with executemany; columns not given get their default (bulk_create is
    ~5x slower here, as it prepares every value of every object through the ORM)."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    given = list(rows[0])
    fields = model._meta.concrete_fields
    constants = {}
    for f in fields:
        if f.attname in given:
            continue
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            value = now
        else:
            value = f.get_default()  # None, or "" for a NOT NULL text field
        constants[f.attname] = f.get_db_prep_save(value, connection)
    columns = [model._meta.get_field(name).column for name in given] + [
        model._meta.get_field(name).column for name in constants
    ]
    qn = connection.ops.quote_name
    # Table and column names come from the model; the values are parameters.
    table, names = qn(model._meta.db_table), ", ".join(qn(c) for c in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    tail = list(constants.values())
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(sql, [[*row.values(), *tail] for row in rows[start : start + 5000]])


def build_world(result: DbResult, total: int) -> dict[str, Any]:
    """The tenant tree, inserted directly (paths generated in Python), and the partner's user."""
    from django.db import connection, transaction
    from django.utils.text import slugify

    from mandant.accounts.roles import Role
    from mandant.accounts.services import membership_set, user_create
    from mandant.tenants.models import Charset, Tenant, TenantStatus, TenantType, TenantVersion
    from mandant.tenants.names import tenant_name_key
    from mandant.tenants.services import root_tenant

    rng = random.Random(20240501)  # noqa: S311 - reproducible data, not security
    started = time.perf_counter()
    root_obj = root_tenant()
    root = Node(pk=root_obj.pk, parent_id=None, path=root_obj.path, depth=0, name=root_obj.name)
    nodes = plan_tree(rng, root, total, partners=20, big_share=0.2)
    planned = time.perf_counter()
    statuses = list(TenantStatus.values)
    versions = list(TenantVersion.values)
    logo = rng.randbytes(20_000)
    rows = []
    for node in nodes:
        custom = node.depth > 1 and rng.random() < 0.1
        rows.append(
            {
                "id": node.pk,
                "name": node.name,
                "name_key": tenant_name_key(node.name),
                "slug": slugify(node.name),
                "type": (TenantType.CUSTOM if custom else TenantType.STANDARD).value,
                "version": rng.choice(versions),
                "parent_id": node.parent_id,
                "path": node.path,
                "depth": node.depth,
                "child_count": node.child_count,
                "charset": rng.choice(Charset.values) if custom else Charset.UTF_8.value,
                "status": rng.choice(statuses),
                "tenant_management_active": node.depth == 1,
                # Partners have a logo (a 20 kB PNG's worth of bytes; nothing decodes it).
                "logo_png": logo if node.depth == 1 else None,
                "logo_width": 300 if node.depth == 1 else None,
                "logo_height": 100 if node.depth == 1 else None,
                "logo_version": "bench1" if node.depth == 1 else "",
            }
        )
    with transaction.atomic():
        fast_insert(Tenant, rows)
        Tenant.objects.filter(pk=root.pk).update(child_count=root.child_count)
    if connection.vendor == "postgresql":
        from django.core.management.color import no_style

        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Tenant]):
                cursor.execute(statement)
            # What autovacuum does soon after a bulk load (visibility map, statistics).
            cursor.execute("VACUUM ANALYZE tenants_tenant")
    built = time.perf_counter()

    partner = Tenant.objects.get(path=nodes[0].path)
    paula = user_create(email=PARTNER_EMAIL, password=None, first_name="Paula")
    membership_set(actor=None, tenant=partner, user=paula, role=Role.CUSTOMER_SERVICE)
    depths = Counter(node.depth for node in nodes)
    lower, upper = partner.subtree_bounds()
    subtree = Tenant.objects.filter(path__gte=lower, path__lt=upper).count()
    deepest = max((n for n in nodes if n.path.startswith(partner.path)), key=lambda n: n.depth)
    assert Tenant.objects.count() == total, Tenant.objects.count()
    result.info.update(
        {
            "tenants": Tenant.objects.count(),
            "depth histogram": dict(sorted(depths.items())),
            "partner subtree": subtree,
            "build": f"{built - started:.1f} s (plan {planned - started:.1f} s)",
        }
    )
    print(
        f"  built {total} tenants in {built - started:.1f} s; "
        f"depths {dict(sorted(depths.items()))}; partner subtree {subtree}",
        flush=True,
    )
    return {"partner": partner, "user": paula, "deepest_pk": deepest.pk, "nodes": nodes}


# --- naive baselines ------------------------------------------------------------------


def naive_role(user_id: int, slug: str) -> int | None:
    """Baseline of the role check: walk up the parents, one membership query per level."""
    from mandant.accounts.models import Membership
    from mandant.tenants.models import Tenant

    node: Tenant | None = Tenant.objects.get(slug=slug)
    while node is not None:
        membership = Membership.objects.filter(user_id=user_id, tenant_id=node.pk).first()
        if membership is not None:
            return membership.role
        node = Tenant.objects.get(pk=node.parent_id) if node.parent_id else None
    return None


def naive_tenant_create(*, user: Any, name: str, master_pk: int) -> Any:
    """Baseline of tenant_create: what a first, naive implementation would do.

    Role by walking the parents (one query per level); name uniqueness by loading every
    name key into Python; slug uniqueness by loading every slug; the next child path by
    loading all siblings (full rows) into Python. Same writes as the service.
    """
    from django.db import transaction
    from django.db.models import F
    from django.utils.text import slugify

    from mandant.audit.services import audit_record
    from mandant.core.actor import Actor, RoleGrant
    from mandant.tenants.models import PATH_STEP_WIDTH, Tenant
    from mandant.tenants.names import clean_tenant_name, tenant_name_key

    master = Tenant.objects.get(pk=master_pk)
    role = naive_role(user.pk, master.slug)
    if role is None or role > 200:
        raise PermissionError
    clean = clean_tenant_name(name)
    key = tenant_name_key(clean)
    with transaction.atomic():
        if key in set(Tenant.objects.values_list("name_key", flat=True)):
            raise ValueError("name taken")
        slugs = set(Tenant.objects.values_list("slug", flat=True))
        base = slugify(clean)[:100] or "tenant"
        slug, counter = base, 1
        while slug in slugs:
            counter += 1
            slug = f"{base}-{counter}"
        siblings = list(Tenant.objects.filter(parent_id=master.pk))
        step = max((int(s.path[-PATH_STEP_WIDTH:]) for s in siblings), default=0) + 1
        tenant = Tenant.objects.create(
            name=clean,
            name_key=key,
            slug=slug,
            type="STANDARD",
            version="BASIC",
            parent_id=master.pk,
            path=master.path + str(step).zfill(PATH_STEP_WIDTH),
            depth=master.depth + 1,
            charset="UTF-8",
            status="in_setup",
            created_by=user,
        )
        Tenant.objects.filter(pk=master.pk).update(child_count=F("child_count") + 1)
        audit_record(
            actor=Actor(user=user),
            action="tenant.create",
            tenant=tenant,
            grant=RoleGrant(role=role, source=None),
            obj=tenant,
            changes={"name": clean},
        )
    return tenant


def naive_tenant_list(root_pk: int, q: str, page: int = 1, page_size: int = 50) -> tuple[int, list]:
    """Baseline of the list: walk the subtree level by level via parent_id, filter in Python."""
    from mandant.tenants.models import Tenant
    from mandant.tenants.names import tenant_name_key

    root = Tenant.objects.get(pk=root_pk)
    everything = [root]
    frontier = [root.pk]
    while frontier:
        level: list[Tenant] = []
        for start in range(0, len(frontier), 500):
            level.extend(Tenant.objects.filter(parent_id__in=frontier[start : start + 500]))
        everything.extend(level)
        frontier = [t.pk for t in level]
    names = {t.pk: t.name for t in everything}
    key = tenant_name_key(q.strip()) if q.strip() else ""
    matches = sorted((t for t in everything if key in t.name_key), key=lambda t: t.path)
    rows = matches[(page - 1) * page_size : page * page_size]
    for row in rows:
        row.parent_name = names.get(row.parent_id)  # type: ignore[attr-defined]
    return len(matches), rows


# --- the four measurements -------------------------------------------------------------


def measure_create(result: DbResult, world: dict[str, Any], creations: int) -> None:
    from mandant.core.actor import Actor
    from mandant.tenants.models import Tenant
    from mandant.tenants.services import tenant_create

    print("1. tenant_create", flush=True)
    partner = world["partner"]
    rng = random.Random(7)  # noqa: S311
    lower, upper = partner.subtree_bounds()
    masters = list(
        Tenant.objects.filter(path__gte=lower, path__lt=upper, depth__lt=6)
        .defer("logo_png")
        .order_by("?")[: creations + 20]
    )
    user = world["user"]
    timings: list[float] = []
    cpu: list[float] = []
    for index in range(creations + 20):
        master = masters[index % len(masters)]
        started, cpu_started = time.perf_counter(), time.process_time()
        tenant_create(
            actor=Actor(user=user),
            name=f"Servicekunde {index:05d} {rng.choice(WORDS_CITY)}",
            type="STANDARD",
            version="BASIC",
            master=master,
        )
        elapsed = time.perf_counter() - started
        if index >= 20:  # the first 20 warm up caches and connections
            timings.append(elapsed)
            cpu.append(time.process_time() - cpu_started)
    naive: list[float] = []
    naive_n = 15
    for index in range(naive_n + 2):
        master = masters[index % len(masters)]
        started = time.perf_counter()
        naive_tenant_create(user=user, name=f"Naivkunde {index:05d}", master_pk=master.pk)
        if index >= 2:
            naive.append(time.perf_counter() - started)
    note = (
        f"{creations} creations after 20 warm-up, masters at depth 1-5 of the partner, "
        f"in the {result.info['tenants']:,}-tenant tree; CPU time of this process "
        f"{median_ms(cpu):.1f} ms (median); baseline: {naive_n} naive creations"
    )
    result.add(
        Row(
            "create_median",
            "1. tenant_create STANDARD, median",
            "ms",
            median_ms(timings),
            20,
            median_ms(naive),
            f"naive, n={naive_n}",
            note,
        )
    )
    result.add(
        Row(
            "create_p95",
            "1. tenant_create STANDARD, p95",
            "ms",
            p95_ms(timings),
            20,
            p95_ms(naive),
            f"naive, n={naive_n}",
        )
    )


def measure_role(result: DbResult, world: dict[str, Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mandant.core.actor import Actor
    from mandant.tenants.models import Tenant
    from mandant.tenants.selectors import tenant_get_for_actor

    print("3. effective role", flush=True)
    user = world["user"]
    deepest = Tenant.objects.get(pk=world["deepest_pk"])
    assert deepest.depth == 6, deepest.depth
    chain = list(Tenant.objects.filter(path__in=deepest.ancestor_paths()[1:]).order_by("depth"))
    per_depth: dict[int, int] = {}
    for tenant in chain:
        with CaptureQueriesContext(connection) as ctx:
            _t, grant = tenant_get_for_actor(Actor(user=user), slug=tenant.slug)
        assert grant.role == 200 and grant.source is not None
        assert grant.source.pk == world["partner"].pk
        per_depth[tenant.depth] = len(ctx.captured_queries)
    naive_queries: dict[int, int] = {}
    for tenant in chain:
        with CaptureQueriesContext(connection) as ctx:
            assert naive_role(user.pk, tenant.slug) == 200
        naive_queries[tenant.depth] = len(ctx.captured_queries)
    timings, naive = [], []
    for _ in range(300):
        started = time.perf_counter()
        tenant_get_for_actor(Actor(user=user), slug=deepest.slug)
        timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        naive_role(user.pk, deepest.slug)
        naive.append(time.perf_counter() - started)
    result.add(
        Row(
            "role_queries",
            "3. role check depth 6 (membership at depth 1), queries",
            "queries",
            max(per_depth.values()),
            2,
            naive_queries[6],
            "parent walk",
            f"queries by tenant depth {per_depth}; baseline {naive_queries}",
        )
    )
    result.add(
        Row(
            "role_time",
            "3. role check depth 6, median time",
            "ms",
            median_ms(timings),
            None,
            median_ms(naive),
            "parent walk",
        )
    )


def measure_page(result: DbResult, world: dict[str, Any]) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from mandant.tenants.models import Tenant
    from mandant.tenants.selectors import subtree_q, tenant_list

    print("2. Mandantenverwaltung list page", flush=True)
    partner = world["partner"]
    client = Client()
    client.force_login(world["user"])
    url = reverse("tenants:tenant_management", args=[partner.slug])
    subtree = Tenant.objects.filter(subtree_q(partner)).count()
    cases = [
        ("page_q_common", f"search “{SEARCH_COMMON}”", {"q": SEARCH_COMMON}),
        ("page_q_rare", f"search “{SEARCH_RARE}”", {"q": SEARCH_RARE}),
        ("page_noq", "no search", {}),
    ]
    queries: dict[str, int] = {}
    content: dict[str, str] = {}
    for key, _label, params in cases:
        for _ in range(3):  # warm-up
            response = client.get(url, params)
            assert response.status_code == 200, response.status_code
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, params)
        queries[key] = len(ctx.captured_queries)
        content[key] = response.content.decode()
    # 4 rounds of 5 requests per case, interleaved, so that a passing disturbance (another
    # process on the machine) does not land on one case only.
    timings: dict[str, list[float]] = {key: [] for key, _label, _params in cases}
    cpu: dict[str, list[float]] = {key: [] for key, _label, _params in cases}
    for _round in range(4):
        for key, _label, params in cases:
            for _ in range(5):
                started, cpu_started = time.perf_counter(), time.process_time()
                response = client.get(url, params)
                timings[key].append(time.perf_counter() - started)
                cpu[key].append(time.process_time() - cpu_started)
                assert response.status_code == 200
    for key, label, params in cases:
        page = tenant_list(root=partner, page=1, page_size=50, q=params.get("q", ""))
        selector = []
        for _ in range(20):
            started = time.perf_counter()
            tenant_list(root=partner, page=1, page_size=50, q=params.get("q", ""))
            selector.append(time.perf_counter() - started)
        naive = []
        for _ in range(5):
            started = time.perf_counter()
            total, rows = naive_tenant_list(partner.pk, params.get("q", ""))
            naive.append(time.perf_counter() - started)
        assert total == page.total, (total, page.total)
        assert [t.pk for t in rows] == [t.pk for t in page.tenants]
        assert f"({page.total})" in content[key]
        note = (
            f"{page.total:,} matches in the partner's subtree of {subtree:,}; "
            f"p95 {p95_ms(timings[key]):.1f} ms; CPU time of this process "
            f"{median_ms(cpu[key]):.1f} ms; selector tenant_list() alone "
            f"{median_ms(selector):.1f} ms"
        )
        result.add(
            Row(
                key,
                f"2. list page, {label}, median server time",
                "ms",
                median_ms(timings[key]),
                100,
                median_ms(naive),
                "naive list only, n=5",
                note,
            )
        )
        result.add(
            Row(f"{key}_queries", f"2. list page, {label}, SQL queries", "queries", queries[key])
        )
    explain_list(result, partner)


def explain_list(result: DbResult, partner: Any) -> None:
    """The plans of the list queries (count and first page, with search)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mandant.tenants.selectors import tenant_list

    with CaptureQueriesContext(connection) as ctx:
        tenant_list(root=partner, page=1, page_size=50, q=SEARCH_COMMON)
    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
        if connection.vendor == "postgresql"
        else "EXPLAIN QUERY PLAN "
    )
    for name, query in zip(
        ("count with search", "first page with search"), ctx.captured_queries, strict=True
    ):
        with connection.cursor() as cursor:
            cursor.execute(prefix + query["sql"])
            lines = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
        text = "\n".join(lines)
        result.plans[name] = f"{query['sql']}\n{text}"
        # PostgreSQL: the unique index of path; SQLite: its automatic index, as a range.
        used = "tenants_tenant_path_key" in text or "(path>? AND path<?)" in text
        result.info[f"path index used by {name}"] = "yes" if used else "NO"
        if not used:
            print(f"  WARNING: the plan of {name} does not use the path index", flush=True)


def measure_cli(
    result: DbResult,
    world: dict[str, Any],
    workdir: Path,
    count: int,
    api_count: int,
    proc_count: int,
    loop_count: int,
) -> None:
    """``mandant tenant create-many`` as a subprocess, and three slower ways to the same."""
    import resource

    from django.db import connection
    from django.test import Client

    from mandant.accounts.services import apikey_create
    from mandant.core.actor import Actor
    from mandant.tenants.models import Tenant
    from mandant.tenants.services import tenant_create

    print(f"4. CLI create-many of {count:,}", flush=True)
    partner = world["partner"]
    jsonl = workdir / f"import-{result.db}.jsonl"
    rng = random.Random(11)  # noqa: S311
    with jsonl.open("w", encoding="utf-8") as out:
        for index in range(count):
            row = {
                "name": f"Importkunde {index:05d} {rng.choice(WORDS_FAMILY)}",
                "type": "STANDARD",
                "version": rng.choice(["BASIC", "PROFESSIONAL"]),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    connection.close()  # no open connection or transaction of ours while the CLI runs
    before = Tenant.objects.filter(parent=partner).count()
    env = child_env()
    mandant = str(BIN / "mandant")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603
        [
            mandant,
            "tenant",
            "create-many",
            "--actor",
            PARTNER_EMAIL,
            "--master",
            partner.slug,
            str(jsonl),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu = (after_usage.ru_utime - usage.ru_utime) + (after_usage.ru_stime - usage.ru_stime)
    if completed.returncode != 0 or f"created {count}, failed 0" not in completed.stdout:
        print(completed.stdout[-2000:], completed.stderr[-2000:])
        raise SystemExit("create-many failed")
    after = Tenant.objects.filter(parent=partner).count()
    partner.refresh_from_db()
    assert after - before == count and partner.child_count == after, (before, after)

    # Baseline A: the same rows through the API, in-process, measured on a subset.
    _key, raw = apikey_create(actor=Actor(user=world["user"]), tenant=partner, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api_started = time.perf_counter()
    for index in range(api_count):
        response = client.post(
            "/api/v1/tenants", {"name": f"API-Kunde {index:05d}"}, content_type="application/json"
        )
        assert response.status_code == 201, response.content
    api_elapsed = time.perf_counter() - api_started
    api_extrapolated = api_elapsed * count / api_count
    # Baseline B: the first create-many, one tenant_create (one transaction) per row.
    actor = Actor(user=world["user"])
    loop_started = time.perf_counter()
    for index in range(loop_count):
        tenant_create(
            actor=actor,
            name=f"Schleifenkunde {index:05d}",
            type="STANDARD",
            version="BASIC",
            master=partner,
        )
    loop_elapsed = time.perf_counter() - loop_started
    # Baseline C: one CLI process per tenant, on a small subset.
    proc_started = time.perf_counter()
    for index in range(proc_count):
        subprocess.run(  # noqa: S603
            [
                mandant,
                "tenant",
                "create",
                "--actor",
                PARTNER_EMAIL,
                "--master",
                partner.slug,
                "--name",
                f"Einzelkunde {index:05d}",
            ],
            env=env,
            capture_output=True,
            check=True,
        )
    proc_elapsed = time.perf_counter() - proc_started
    result.add(
        Row(
            "cli",
            f"4. CLI create-many {count:,} tenants, wall time",
            "s",
            elapsed,
            60,
            api_extrapolated,
            f"{api_count:,} API POSTs, extrapolated",
            f"{elapsed / count * 1000:.2f} ms per tenant incl. process start-up; CPU time of the "
            f"CLI process {cli_cpu:.1f} s; API baseline {api_elapsed:.1f} s for {api_count:,}",
        )
    )
    result.add(
        Row(
            "cli_loop",
            f"4b. tenant_create per row (first create-many), ×{count:,}",
            "s",
            loop_elapsed * count / loop_count,
            None,
            None,
            "",
            f"in-process, measured {loop_elapsed:.1f} s for {loop_count:,} rows, extrapolated",
        )
    )
    result.add(
        Row(
            "cli_proc",
            f"4c. one `mandant tenant create` process per row, ×{count:,}",
            "s",
            proc_elapsed * count / proc_count,
            None,
            None,
            "",
            f"measured {proc_elapsed:.1f} s for {proc_count} processes, extrapolated",
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
    world = build_world(result, args.tenants)
    measure_create(result, world, args.creations)
    measure_page(result, world)
    measure_role(result, world)
    measure_cli(
        result, world, workdir, args.cli_count, args.api_count, args.proc_count, args.loop_count
    )
    result.info["load average at end"] = load_averages()[0]
    result.info["child run"] = f"{time.perf_counter() - started:.0f} s"
    Path(args.json).write_text(
        json.dumps(
            {
                "db": result.db,
                "engine_version": result.engine_version,
                "info": result.info,
                "plans": result.plans,
                "rows": [asdict(r) for r in result.rows],
            },
            default=str,
        )
    )
    return 0


def collation_child_main(args: argparse.Namespace) -> int:
    """Build a small tree in a database with another collation; compare subtree queries."""
    workdir = Path(args.workdir)
    setup_django(workdir, args.database_url)
    from django.db import connection, transaction

    from mandant.tenants.models import Tenant
    from mandant.tenants.selectors import tenant_filter
    from mandant.tenants.services import root_tenant

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT datlocprovider, datcollate, daticulocale FROM pg_database "
            "WHERE datname = current_database()"
        )
        provider, collate, icu = cursor.fetchone()
    rng = random.Random(3)  # noqa: S311
    root_obj = root_tenant()
    root = Node(pk=root_obj.pk, parent_id=None, path=root_obj.path, depth=0, name=root_obj.name)
    nodes = plan_tree(rng, root, 3000, partners=12, big_share=0.2)
    with transaction.atomic():
        Tenant.objects.bulk_create(
            [
                Tenant(
                    pk=n.pk,
                    name=n.name,
                    name_key=n.name.casefold(),
                    slug=f"t{n.pk}",
                    type="STANDARD",
                    version="BASIC",
                    parent_id=n.parent_id,
                    path=n.path,
                    depth=n.depth,
                    child_count=n.child_count,
                    charset="UTF-8",
                    status="ready",
                )
                for n in nodes
            ]
        )
    all_paths = {root.path: root.pk} | {n.path: n.pk for n in nodes}
    checked = wrong = order_wrong = 0
    for node in [root, *nodes[:: max(1, len(nodes) // 300)]]:
        model = Tenant(path=node.path, pk=node.pk)
        expected = sorted(p for p in all_paths if p.startswith(node.path))
        got = list(tenant_filter(root=model).values_list("path", flat=True))
        checked += 1
        if sorted(got) != expected:
            wrong += 1
        elif got != expected:
            order_wrong += 1
    collation = f"provider {provider}, collate {collate}, icu {icu}"
    if wrong or order_wrong:
        summary = (
            f"{collation}: {wrong} of {checked} subtrees WRONG, {order_wrong} in a different order"
        )
    else:
        summary = f"{collation}: all {checked} subtrees correct and in path order"
    Path(args.json).write_text(json.dumps({"summary": summary}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=PG_DEFAULT_URL,
        help="PostgreSQL server URL without database (default %(default)s)",
    )
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--creations", type=int, default=300)
    parser.add_argument("--cli-count", type=int, default=10_000)
    parser.add_argument("--api-count", type=int, default=300)
    parser.add_argument("--proc-count", type=int, default=5)
    parser.add_argument("--loop-count", type=int, default=500)
    parser.add_argument("--skip-collation", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--collation-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.collation_child:
        return collation_child_main(args)
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())

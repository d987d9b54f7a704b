#!/usr/bin/env python
"""Performance benchmark for the CSV import of contacts (a script, not a test).

    .venv/bin/python bench/contacts_import_bench.py [--db sqlite|postgres|both] [--rows N]

For each database the script starts a child process with its own, fresh database (a SQLite
file in a temporary directory, or a PostgreSQL database it creates and drops), runs the
migrations, creates a tenant and an Editor, writes a CSV file of ``--rows`` contacts (email,
first_name, last_name, language and two custom fields; ≈ 2 % malformed rows, ≈ 1 % duplicates
of earlier addresses in another spelling; seeded, so every run has the same file), stores it
with ``importing.upload_create`` and starts the job with ``import_start`` (keep the valid rows).

1. The job body ``importing.import_job_run`` — what the worker runs — in a separate process
   (``--measure``), so its peak RSS (``ru_maxrss``) is the import alone and not the set-up.
   Target (issue): 1,000,000 rows ≤ 120 s and ≤ 300 MB. The child checks the job summary and
   the numbers of contacts and consent records against what the generator wrote.
2. The naive baseline: per row ``parse_row`` and an ORM ``update_or_create`` plus a consent
   record (what a straightforward import does), on the first ``--naive`` rows of the same file
   into a second tenant, extrapolated to all rows (labelled so).

The exit status is 1 when a target is missed. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import (
    PG_DEFAULT_URL,
    REPO,
    DbResult,
    Row,
    compare_databases,
    engine_version,
    load_averages,
    setup_django,
    write_result,
)

PG_DB_NAME = "mandant_bench_import"
TARGET_S = 120.0
TARGET_MB = 300.0

FIRST = ["Anna", "Bert", "Jörg", "Zoë", "Marie", "Lukas", "Fatma", "Søren", "Ines", "Paul"]
LAST = ["Müller", "Schmidt", "Weiß", "Öztürk", "Nguyen", "Hoffmann", "Kraus", "Łukasz"]
DOMAINS = ["example.com", "beispiel.de", "mail.example.org", "firma-gmbh.de", "web.example"]
IDN_DOMAINS = ["müller.example", "bücher.example", "example.com"]
UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "oe", "ë": "e", "ł": "l"})


def ascii_name(name: str) -> str:
    """How names usually appear in addresses: lower case, umlauts transliterated."""
    return name.lower().translate(UMLAUTS)


INTERESTS = ["Garten", "Reisen", "Technik, Software", "Kochen", "Sport"]


def write_csv(path: Path, rows: int, seed: int = 42) -> dict[str, int]:
    """The file and what the import must make of it (rows, invalid, duplicates, distinct)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    invalid = duplicates = 0
    valid_addresses: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,first_name,last_name,language,kundennummer,interessen\n")
        for n in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            language = rng.choice(["de", "de", "en", "fr", ""])
            customer = f"K{n:07d}"
            interest = rng.choice(INTERESTS)
            roll = rng.random()
            if roll < 0.02:
                invalid += 1
                kind = n % 3
                if kind == 0:
                    email = f"{first.lower()}.{n}.at.{rng.choice(DOMAINS)}"
                elif kind == 1:
                    email = ""
                else:
                    # A short row: fewer columns than the header.
                    out.write(f"kurz{n}@example.com,{first}\n")
                    continue
            elif roll < 0.03 and valid_addresses:
                duplicates += 1
                # Another spelling of an earlier address (upper() would turn ß into SS).
                earlier = rng.choice(valid_addresses[-50_000:])
                email = earlier[0].upper() + earlier[1:]
            else:
                email = f"{ascii_name(first)}.{ascii_name(last)}.{n}@{rng.choice(DOMAINS)}"
                if n % 200 == 0:
                    # Now and then an address with an umlaut, or an IDN domain.
                    email = f"{first.lower()}.{n}@{rng.choice(IDN_DOMAINS)}"
                valid_addresses.append(email)
            out.write(f'{email},{first},{last},{language},{customer},"{interest}"\n')
    return {
        "rows": rows,
        "invalid": invalid,
        "duplicates": duplicates,
        "distinct": rows - invalid - duplicates,
    }


def build_world() -> dict[str, Any]:
    from mandant.accounts.roles import Role
    from mandant.accounts.services import membership_set, user_create
    from mandant.core.actor import Actor, RoleGrant
    from mandant.tenants.services import root_tenant, tenant_create

    operator = user_create(email="olga@bench.example", password=None, is_staff=True)
    op = Actor(user=operator)
    tenants = [
        tenant_create(
            actor=op, name=name, type="STANDARD", version="PROFESSIONAL", master=root_tenant()
        )
        for name in ("Import Kunde", "Naiver Kunde")
    ]
    user = user_create(email="edda@bench.example", password=None, first_name="Edda")
    for tenant in tenants:
        membership_set(actor=op, tenant=tenant, user=user, role=Role.EDITOR)
    grants = [RoleGrant(role=Role.EDITOR, source=t) for t in tenants]
    return {"tenants": tenants, "actor": Actor(user=user), "grants": grants}


def vm_hwm_kb() -> int:
    """Peak RSS of this process (``VmHWM``). ``ru_maxrss`` is not used for the figure: Linux
    carries the pre-``exec`` peak over into it, and the process is started by the child that
    held the whole file for the upload, so it reports that child's peak; ``VmHWM`` belongs to
    the process's own address space. Both are reported."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_main(args: argparse.Namespace) -> int:
    """The grandchild: run one import job as the worker would, report time and peak RSS."""
    setup_django(Path(args.workdir), args.database_url, migrate=False)
    from mandant.contacts.importing import import_job_run

    before = vm_hwm_kb()
    started, cpu_started = time.perf_counter(), time.process_time()
    job = import_job_run(job_id=args.measure)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak = vm_hwm_kb()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(args.json).write_text(
        json.dumps(
            {
                "seconds": elapsed,
                "peak_kb": peak,
                "start_kb": before,
                "ru_maxrss_kb": maxrss,
                "cpu": cpu,
                "status": job.status,
                "error": job.error,
                "summary": {k: v for k, v in job.summary.items() if k != "errors"},
                "errors_kept": len(job.summary.get("errors", [])),
            }
        )
    )
    return 0


def bench_import(result: DbResult, world: dict[str, Any], args: argparse.Namespace) -> Path:
    from django_scopes import scope

    from mandant.contacts import importing
    from mandant.contacts.models import ConsentRecord, Contact

    workdir = Path(args.workdir)
    path = workdir / "contacts.csv"
    started = time.perf_counter()
    expected = write_csv(path, args.rows)
    size = path.stat().st_size
    print(
        f"  wrote {args.rows:,} rows ({size / 1e6:.0f} MB) in "
        f"{time.perf_counter() - started:.0f} s: {expected}",
        flush=True,
    )
    tenant, actor, grant = world["tenants"][0], world["actor"], world["grants"][0]
    started = time.perf_counter()
    with path.open("rb") as file:
        upload = importing.upload_create(tenant=tenant, name="contacts.csv", data=file)
    header, _preview = importing.header_and_preview(upload)
    job = importing.import_start(
        actor=actor,
        tenant=tenant,
        grant=grant,
        upload=upload,
        mapping=importing.guess_mapping(header),
        keep_valid=True,
    )
    prepared = time.perf_counter() - started
    print(f"  upload and import_start: {prepared:.1f} s (job total {job.total:,})", flush=True)

    out = workdir / f"measure-{result.db}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure",
        str(job.pk),
        "--workdir",
        str(workdir),
        "--database-url",
        args.database_url,
        "--json",
        str(out),
    ]
    subprocess.run(cmd, cwd=REPO, check=True)  # noqa: S603
    measured = json.loads(out.read_text())
    summary = measured["summary"]
    assert measured["status"] == "done", measured
    assert summary["rows"] == expected["rows"], (summary, expected)
    assert summary["invalid"] == expected["invalid"], (summary, expected)
    assert summary["duplicates"] == expected["duplicates"], (summary, expected)
    with scope(tenant=tenant.pk):
        contacts = Contact.objects.filter(tenant=tenant).count()
        consents = ConsentRecord.objects.filter(tenant=tenant).count()
    assert contacts == expected["distinct"], (contacts, expected)
    assert consents == expected["distinct"], (consents, expected)

    peak_mb = measured["peak_kb"] / 1024
    result.add(
        Row(
            "import_time",
            f"1a. import_job_run, {args.rows:,} rows, keep valid (wall time)",
            "s",
            measured["seconds"],
            TARGET_S * args.rows / 1_000_000,
            None,
            "",
            f"{size / 1e6:.0f} MB file; {expected['invalid']:,} invalid rows, "
            f"{expected['duplicates']:,} duplicates, {contacts:,} contacts and consent records "
            f"checked; {args.rows / measured['seconds']:,.0f} rows/s; the target is scaled "
            "to the row count",
        )
    )
    result.add(
        Row(
            "import_rss",
            "1b. peak RSS of the process running the job (VmHWM)",
            "MB",
            round(peak_mb, 1),
            TARGET_MB,
            None,
            "",
            f"{measured['start_kb'] / 1024:.0f} MB after Django start-up, before the job; "
            f"ru_maxrss {measured['ru_maxrss_kb'] / 1024:.0f} MB (includes the starting "
            f"process's peak, see vm_hwm_kb); CPU time of the process {measured['cpu']:.1f} s",
        )
    )
    result.info["file"] = f"{args.rows:,} rows, {size / 1e6:.0f} MB"
    return path


def bench_naive(
    result: DbResult, world: dict[str, Any], path: Path, args: argparse.Namespace
) -> None:
    """Per row: parse, ``update_or_create`` and a consent record, each row its own transaction
    (autocommit), on the first ``--naive`` rows; extrapolated to ``--rows``."""
    import csv

    from django.core.exceptions import ValidationError
    from django_scopes import scope

    from mandant.contacts import importing
    from mandant.contacts.models import ConsentRecord, ConsentSource, Contact

    tenant = world["tenants"][1]
    with path.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        mapping = importing.guess_mapping(header)
        sample = [row for _n, row in zip(range(args.naive), reader, strict=False)]
    started = time.perf_counter()
    with scope(tenant=tenant.pk):
        for row in sample:
            try:
                record = importing.parse_row(row, mapping) if len(row) >= len(header) else None
            except ValidationError:
                record = None
            if record is None:
                continue
            contact, _created = Contact.objects.update_or_create(
                tenant=tenant,
                email=record.email,
                defaults={
                    k: v
                    for k, v in {
                        "first_name": record.first_name,
                        "last_name": record.last_name,
                        "language": record.language,
                    }.items()
                    if v is not None
                },
            )
            if record.fields:
                contact.fields = {**contact.fields, **record.fields}
                contact.save(update_fields=["fields"])
            ConsentRecord.objects.create(
                tenant=tenant, contact=contact, source=ConsentSource.IMPORT, text="CSV"
            )
    elapsed = time.perf_counter() - started
    extrapolated = elapsed * args.rows / len(sample)
    result.add(
        Row(
            "naive_time",
            f"2. naive per-row ORM import, {args.naive:,} rows extrapolated to {args.rows:,}",
            "s",
            extrapolated,
            None,
            None,
            "",
            f"{elapsed:.1f} s for {len(sample):,} rows ({len(sample) / elapsed:,.0f} rows/s)",
        )
    )
    for row in result.rows:
        if row.key == "import_time" and row.value:
            row.baseline, row.baseline_label = extrapolated, "naive per-row ORM, extrapolated"


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
    world = build_world()
    path = bench_import(result, world, args)
    if args.naive:
        bench_naive(result, world, path, args)
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
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the CSV file")
    parser.add_argument("--naive", type=int, default=5000, help="rows of the naive baseline")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure_main(args)
    if args.child:
        return child_main(args)
    return compare_databases(
        Path(__file__).resolve(),
        dbs=["sqlite", "postgres"] if args.db == "both" else [args.db],
        pg_url=args.pg_url,
        pg_db_name=PG_DB_NAME,
        extra=["--rows", str(args.rows), "--naive", str(args.naive)],
        keep=args.keep,
    )


if __name__ == "__main__":
    sys.exit(main())

"""What the benchmark scripts share: result rows, formatting, PostgreSQL scratch databases
and a description of the machine. The scripts run as ``python bench/<name>.py``, so this
module is importable as ``benchlib``."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The PostgreSQL server every benchmark creates its own database on (trust auth).
PG_DEFAULT_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")


@dataclass
class Row:
    key: str
    label: str
    unit: str
    value: float | None
    target: float | None = None  # value must be <= target
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value <= self.target


@dataclass
class DbResult:
    db: str
    engine_version: str = ""
    rows: list[Row] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, str] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        verdict = {True: "PASS", False: "FAIL", None: ""}[row.passed]
        base = f"  baseline {fmt(row.baseline, row.unit)}" if row.baseline is not None else ""
        if base and row.baseline_label:
            base += f" ({row.baseline_label})"
        target = f" (target ≤ {fmt(row.target, row.unit)})" if row.target is not None else ""
        print(f"  {row.label}: {fmt(row.value, row.unit)}{target} {verdict}{base}", flush=True)
        return row


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "queries":
        return f"{value:g} q"
    if unit == "msg/s":
        return f"{value:,.0f} msg/s"
    return f"{value:g} {unit}".strip()


def pg_connect(base_url: str, dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(f"{base_url}/{dbname}", autocommit=True, connect_timeout=3)


def pg_reachable(base_url: str) -> str | None:
    try:
        with pg_connect(base_url) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        print(f"NOTE: PostgreSQL at {base_url} is not reachable ({exc}); skipping it.")
        return None


def pg_recreate(base_url: str, name: str, extra: str = "") -> None:
    """(Re)create database ``name``; ``extra`` are CREATE DATABASE options of this file."""
    from psycopg import sql

    pg_drop(base_url, name)
    with pg_connect(base_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} " + extra).format(sql.Identifier(name)))


def pg_drop(base_url: str, name: str) -> None:
    from psycopg import sql

    with pg_connect(base_url) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))


def load_averages() -> list[str]:
    """The 1-, 5- and 15-minute load averages, or ["?"] where /proc has none."""
    try:
        return Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return ["?"]


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{mem_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        ram = "? RAM"
    return f"{os.cpu_count()} CPUs ({cpu}), {ram}, Python {platform.python_version()}"


def engine_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("select sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


def setup_django(workdir: Path, database_url: str, migrate: bool = True) -> None:
    """Configure Django for a benchmark child process against its own database."""
    home = workdir / "home"
    (home / "var").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "mandant.config.settings",
            "DATABASE_URL": database_url,
            "MANDANT_HOME": str(home),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def write_result(result: DbResult, path: Path) -> None:
    """A child's figures, for the parent process (``read_result``)."""
    import json
    from dataclasses import asdict

    data = {
        "db": result.db,
        "engine_version": result.engine_version,
        "info": result.info,
        "plans": result.plans,
        "rows": [asdict(row) for row in result.rows],
    }
    path.write_text(json.dumps(data, default=str))


def read_result(path: Path) -> DbResult:
    import json

    data = json.loads(path.read_text())
    result = DbResult(db=data["db"], engine_version=data["engine_version"], info=data["info"])
    result.plans = data.get("plans", {})
    result.rows = [Row(**row) for row in data["rows"]]
    return result


def print_table(results: list[DbResult]) -> bool:
    all_passed = True
    by_key: dict[str, dict[str, Row]] = {}
    order: list[str] = []
    for result in results:
        for row in result.rows:
            if row.key not in by_key:
                by_key[row.key] = {}
                order.append(row.key)
            by_key[row.key][result.db] = row
    dbs = [r.db for r in results]
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    header = ["Measure", "Target"]
    for db in dbs:
        header += [names[db], f"{names[db]} baseline", "✓"]
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key in order:
        rows = by_key[key]
        first = next(iter(rows.values()))
        target = f"≤ {fmt(first.target, first.unit)}" if first.target is not None else "—"
        cells = [first.label, target]
        for db in dbs:
            row = rows.get(db)
            if row is None:
                cells += ["—", "—", ""]
                continue
            baseline = fmt(row.baseline, row.unit) if row.baseline is not None else "—"
            if row.baseline_label and row.baseline is not None:
                baseline += f" ({row.baseline_label})"
            verdict = {True: "pass", False: "**FAIL**", None: ""}[row.passed]
            if row.passed is False:
                all_passed = False
            cells += [fmt(row.value, row.unit), baseline, verdict]
        print("| " + " | ".join(cells) + " |")
    print()
    for result in results:
        for row in result.rows:
            if row.note:
                print(f"- {names[result.db]} · {row.label}: {row.note}")
    return all_passed


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] * 1000


def run_child(
    script: Path, db: str, workdir: Path, database_url: str, extra: list[str]
) -> DbResult:
    """Run ``script --child db …`` against its own database and read back its figures."""
    out = workdir / f"result-{db}.json"
    cmd = [
        sys.executable,
        str(script),
        "--child",
        db,
        "--workdir",
        str(workdir),
        "--database-url",
        database_url,
        "--json",
        str(out),
        *extra,
    ]
    completed = subprocess.run(cmd, cwd=script.parent.parent, check=False)  # noqa: S603
    if completed.returncode != 0 or not out.exists():
        raise SystemExit(f"benchmark child for {db} failed (exit {completed.returncode})")
    return read_result(out)


def compare_databases(
    script: Path, *, dbs: list[str], pg_url: str, pg_db_name: str, extra: list[str], keep: bool
) -> int:
    """One child per database (a SQLite file, a scratch PostgreSQL database), then the table.
    Returns the exit status: 1 when a target is missed."""
    results: list[DbResult] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"mandant-{script.stem}-"))
    started = time.perf_counter()
    try:
        for db in dbs:
            print(f"\n=== {db} ===", flush=True)
            if db == "sqlite":
                url = f"sqlite:///{workdir / 'bench.sqlite3'}"
                results.append(run_child(script, db, workdir, url, extra))
                continue
            if pg_reachable(pg_url) is None:
                continue
            pg_recreate(pg_url, pg_db_name)
            try:
                results.append(run_child(script, db, workdir, f"{pg_url}/{pg_db_name}", extra))
            finally:
                if not keep:
                    pg_drop(pg_url, pg_db_name)
    finally:
        if keep:
            kept_db = f" and database {pg_db_name}" if "postgres" in dbs else ""
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
    print("\nALL TARGETS MET" if passed else "\nSOME TARGETS MISSED")
    return 0 if passed else 1

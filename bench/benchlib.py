"""What the benchmark scripts share: result rows, formatting, PostgreSQL scratch databases
and a description of the machine. The scripts run as ``python bench/<name>.py``, so this
module is importable as ``benchlib``."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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

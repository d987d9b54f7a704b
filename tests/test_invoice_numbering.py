"""Gapless invoice numbers per series, allocated in the finalising transaction; idempotent
and concurrent runs; immutability of issued invoices."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, connections
from django_scopes import scopes_disabled

from mandant.billing.models import BillingAccount
from mandant.billing.services import ensure_price_list
from mandant.core.actor import Actor
from mandant.invoicing import services
from mandant.invoicing.models import (
    Invoice,
    InvoiceImmutable,
    InvoiceKind,
    InvoiceLine,
    NumberSeries,
)
from mandant.tenants.services import root_tenant, tenant_create

BERLIN = ZoneInfo("Europe/Berlin")
WORLD_CREATED = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock(settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(WORLD_CREATED, tick=False) as traveller:
        yield traveller


def partners(world, count: int) -> list[BillingAccount]:  # type: ignore[no-untyped-def]
    """``count`` partner tenants below the root, each with its billing account (plus Alpha's
    and Fremdagentur's)."""
    accounts = [
        BillingAccount.objects.create(tenant=world.alpha, name="Alpha GmbH"),
        BillingAccount.objects.create(tenant=world.fremd, name="Fremd GmbH"),
    ]
    for number in range(count):
        tenant = tenant_create(
            actor=Actor(user=world.olga),
            name=f"Partner {number:02d}",
            type="STANDARD",
            version="BASIC",
            master=root_tenant(),
        )
        accounts.append(BillingAccount.objects.create(tenant=tenant, name=f"Partner {number} AG"))
    return accounts


def numbers(kind: str = InvoiceKind.INVOICE) -> list[tuple[str, int, str]]:
    with scopes_disabled():
        return list(
            Invoice.objects.filter(kind=kind)
            .order_by("series", "sequence")
            .values_list("series", "sequence", "number")
        )


def last_number(key: str) -> int:
    return NumberSeries.objects.get(key=key).last_number


def assert_gapless(expected_count: int, series: str = "RE-2026") -> None:
    rows = numbers()
    assert [sequence for _series, sequence, _number in rows] == list(range(1, expected_count + 1))
    assert [number for _s, _q, number in rows] == [
        f"{series}-{sequence:05d}" for sequence in range(1, expected_count + 1)
    ]
    assert last_number(series) == expected_count
    with scopes_disabled():
        per_account = list(
            Invoice.objects.filter(kind=InvoiceKind.INVOICE, month="2026-03").values_list(
                "account_id", flat=True
            )
        )
    assert len(per_account) == len(set(per_account))


def test_numbers_are_consecutive_across_runs_and_restart_per_year(world, clock):
    partners(world, 3)
    clock.move_to(datetime(2026, 4, 1, 8, tzinfo=BERLIN))
    march = services.invoices_run(month="2026-03", render_documents=False)
    assert march.numbers == [f"RE-2026-{n:05d}" for n in range(1, 6)]
    clock.move_to(datetime(2026, 5, 1, 8, tzinfo=BERLIN))
    april = services.invoices_run(month="2026-04", render_documents=False)
    assert april.numbers == [f"RE-2026-{n:05d}" for n in range(6, 11)]
    # December's invoices are issued in January: the new year's series starts at 1.
    clock.move_to(datetime(2027, 1, 1, 8, tzinfo=BERLIN))
    december = services.invoices_run(month="2026-12", render_documents=False)
    assert december.numbers == [f"RE-2027-{n:05d}" for n in range(1, 6)]
    # Corrections have series of their own.
    cancellation = services.invoice_cancel(actor=None, invoice=_get("RE-2026-00001"), reason="test")
    credit = services.credit_note_issue(
        actor=None, invoice=_get("RE-2026-00002"), amount="1.00", reason="test"
    )
    assert (cancellation.number, credit.number) == ("ST-2027-00001", "GS-2027-00001")
    assert last_number("RE-2027") == 5 and last_number("RE-2026") == 10


def _get(number: str) -> Invoice:
    with scopes_disabled():
        return Invoice.objects.get(number=number)


def test_a_failed_run_takes_its_numbers_back(world, clock, monkeypatch):  # type: ignore[no-untyped-def]
    partners(world, 1)
    clock.move_to(datetime(2026, 4, 1, 8, tzinfo=BERLIN))
    real_insert = services._insert

    def broken(invoices, lines):  # type: ignore[no-untyped-def]
        real_insert(invoices, lines)
        raise RuntimeError("disk full")  # after the numbers were allocated and rows inserted

    monkeypatch.setattr(services, "_insert", broken)
    with pytest.raises(RuntimeError):
        services.invoices_run(month="2026-03", render_documents=False)
    assert numbers() == [] and last_number("RE-2026") == 0
    monkeypatch.setattr(services, "_insert", real_insert)
    services.invoices_run(month="2026-03", render_documents=False)
    assert_gapless(3)


def test_a_lost_race_the_recheck_missed_leaves_no_gap(world, clock, monkeypatch):  # type: ignore[no-untyped-def]
    partners(world, 2)
    clock.move_to(datetime(2026, 4, 1, 8, tzinfo=BERLIN))
    services.invoices_run(month="2026-03", render_documents=False)
    assert_gapless(4)
    # A run that does not see the invoices (as if its checks ran before the other run's
    # commit): the unique constraint refuses each insert, and each refusal rolls back the
    # number it had taken.
    monkeypatch.setattr(services, "_invoiced_accounts", lambda month, ids=None: set())
    summary = services.invoices_run(month="2026-03", render_documents=False)
    assert (summary.created, summary.existing) == (0, 4)
    assert_gapless(4)


def test_issued_invoices_and_their_lines_are_immutable(world, clock):
    partners(world, 0)
    clock.move_to(datetime(2026, 4, 1, 8, tzinfo=BERLIN))
    services.invoices_run(month="2026-03", render_documents=False)
    invoice = _get("RE-2026-00001")
    invoice.net_total = invoice.net_total + 1
    with pytest.raises(InvoiceImmutable):
        invoice.save()
    with pytest.raises(InvoiceImmutable):
        invoice.save(update_fields=["net_total", "emailed_at"])
    with pytest.raises(InvoiceImmutable):
        invoice.delete()
    with scopes_disabled():
        line = InvoiceLine.objects.filter(invoice_id=invoice.pk).first()
    assert line is not None
    line.description = "changed"
    with pytest.raises(InvoiceImmutable):
        line.save()
    with pytest.raises(InvoiceImmutable):
        line.delete()
    # The record of the e-mail may be written.
    fresh = _get("RE-2026-00001")
    fresh.emailed_at = datetime(2026, 4, 1, 9, tzinfo=BERLIN)
    fresh.save(update_fields=["emailed_at"])
    again = _get("RE-2026-00001")
    assert again.emailed_at is not None
    assert again.net_total != invoice.net_total  # the change above never reached the row
    with scopes_disabled():
        assert InvoiceLine.objects.get(pk=line.pk).description != "changed"


# No serialized_rollback: after another transactional test's flush, Django's post_migrate has
# recreated the content types under new ids, and restoring the serialized ones then fails
# (IntegrityError) depending on which test ran before on the same xdist worker.
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_create_no_duplicate_and_no_gap(world, clock, monkeypatch):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: the SQLite test database is in memory with a shared cache, whose "
            "table locks fail at once instead of waiting, so two writers cannot overlap there "
            "(on a SQLite file the IMMEDIATE transactions serialise the runs completely)"
        )
    ensure_price_list()  # a flushed database (transactional tests) loses the seeded list
    accounts = partners(world, 9)
    # Small batches, so the two runs interleave batch by batch.
    monkeypatch.setattr(services, "RUN_BATCH", 2)
    # Both runs compute their drafts before either writes: both saw no invoices at all.
    computed = threading.Barrier(2, timeout=30)
    real_billing = services.month_billing

    def billing_then_wait(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_billing(*args, **kwargs)
        if threading.current_thread().name == "backwards":
            result.drafts.reverse()  # the runs meet in the middle: both create invoices
        computed.wait()
        return result

    monkeypatch.setattr(services, "month_billing", billing_then_wait)
    # After its first batch each run waits for the other's first batch: both write.
    first_batch_done = {"forwards": threading.Event(), "backwards": threading.Event()}
    real_batch = services._issue_batch

    def batch_then_let_the_other_write(drafts, **kwargs):  # type: ignore[no-untyped-def]
        result = real_batch(drafts, **kwargs)
        me = threading.current_thread().name
        if not first_batch_done[me].is_set():
            first_batch_done[me].set()
            other = "backwards" if me == "forwards" else "forwards"
            first_batch_done[other].wait(timeout=30)
        return result

    monkeypatch.setattr(services, "_issue_batch", batch_then_let_the_other_write)
    clock.move_to(datetime(2026, 4, 1, 8, tzinfo=BERLIN))
    summaries: list[services.RunSummary] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            summaries.append(services.invoices_run(month="2026-03", render_documents=False))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one_run, name=name) for name in ("forwards", "backwards")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(summaries) == 2
    assert sum(s.created for s in summaries) == len(accounts)
    assert all(s.created > 0 for s in summaries)  # both wrote, side by side
    # Each run saw every account once: created by itself, or by the other run.
    assert all(s.created + s.existing == len(accounts) for s in summaries)
    assert_gapless(len(accounts))

"""The monthly invoice run: who pays what, proration to the day with a frozen clock, price
changes, trials, set-up fees, usage, VAT per rate, reverse charge, corrections, the access
rule of the selectors, the CLI and the scheduled task. Numbering: test_invoice_numbering.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation
from django.utils.translation import gettext
from django_scopes import scopes_disabled

from billing_support import ADMIN, activate, member
from mandant.audit.models import AuditEntry
from mandant.billing.models import BillingAccount
from mandant.billing.selectors import product_by_key
from mandant.billing.services import price_add, product_deactivate, product_grant, product_remove
from mandant.core.actor import Actor
from mandant.core.errors import NotFound, PermissionDenied
from mandant.invoicing import calculation as calc
from mandant.invoicing import selectors, services
from mandant.invoicing.billable import unit_code
from mandant.invoicing.models import Invoice, InvoiceKind, UsageRecord
from mandant.invoicing.tasks import monthly_invoice_run, next_run_at
from mandant.tenants.services import tenant_create

BERLIN = ZoneInfo("Europe/Berlin")
WORLD_CREATED = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)  # before March: the whole month
RUN_DAY = datetime(2026, 4, 1, 8, 0, tzinfo=BERLIN)
DUMMY_TASKS = {
    "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}
}
D = Decimal


@pytest.fixture(autouse=True)
def clock(settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(WORLD_CREATED, tick=False) as traveller:
        yield traveller


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def account(tenant, *, name=None, country="DE", vat_id="", address="Hauptstraße 1\n10115 Berlin"):  # type: ignore[no-untyped-def]
    return BillingAccount.objects.create(
        tenant=tenant,
        name=name or f"{tenant.name} GmbH",
        address=address,
        country=country,
        vat_id=vat_id,
        email=f"billing@{tenant.slug}.example",
    )


def run(clock, month: str = "2026-03", **kwargs):  # type: ignore[no-untyped-def]
    clock.move_to(RUN_DAY)
    return services.invoices_run(month=month, render_documents=False, **kwargs)


def invoice_of(acct: BillingAccount, month: str = "2026-03") -> Invoice:
    with scopes_disabled():
        return Invoice.objects.get(account=acct, month=month, kind=InvoiceKind.INVOICE)


def translated(language: str, msgid: str, **values: object) -> str:
    """``msgid`` in ``language`` as the catalogue has it (English until it is translated)."""
    with translation.override(language):
        text = gettext(msgid)
    return text % values if values else text


def lines(invoice: Invoice) -> list[tuple[str, str, Decimal, Decimal, int, int]]:
    """(tenant, product, net, quantity, first day, last day) per line."""
    return [
        (
            line.tenant_name,
            line.product_key,
            line.net_amount,
            line.quantity,
            line.service_start.day,
            line.service_end.day,
        )
        for line in selectors.invoice_lines(invoice)
    ]


# --- the arithmetic ----------------------------------------------------------------------


def test_proration_is_exact_and_rounded_half_up_once():
    assert calc.prorated_net(D("29.00"), 10, 31) == D("9.35")  # 9.3548…
    assert calc.prorated_net(D("249.00"), 10, 31) == D("80.32")  # 80.3225… (not 0.3226 × 249)
    assert calc.prorated_net(D("15.00"), 21, 31) == D("10.16")
    assert calc.prorated_net(D("0.31"), 15, 31) == D("0.15")  # 0.15 exactly
    assert calc.prorated_net(D("0.10"), 15, 20) == D("0.08")  # 0.075: the tie goes up
    assert calc.prorated_net(D("29.00"), 28, 28) == D("29.00")
    assert calc.month_fraction(10, 31) == D("0.3226")
    assert calc.month_fraction(31, 31) == D("1.0000")
    with pytest.raises(ValueError):
        calc.prorated_net(D("29.00"), 0, 31)


def test_vat_is_computed_per_rate_on_the_sum_of_the_line_nets():
    # Three lines of 0.335 net each: rounded per line to 0.34; the VAT of the rate is taken
    # from their sum 1.02 (0.1938 -> 0.19), not from each line (3 × 0.06 = 0.18).
    nets = [calc.money(D("0.335"))] * 3
    assert nets == [D("0.34")] * 3
    totals = calc.invoice_totals([(D("19.00"), net) for net in nets], reverse_charge=False)
    assert (totals.net, totals.tax, totals.gross) == (D("1.02"), D("0.19"), D("1.21"))
    # Two rates: one group each, highest first; the grand total is the sum of the groups.
    totals = calc.invoice_totals(
        [(D("19"), D("10.05")), (D("7"), D("0.50")), (D("19"), D("0.05"))],
        reverse_charge=False,
    )
    assert [(g.rate, g.net, g.tax) for g in totals.groups] == [
        (D("19"), D("10.10"), D("1.92")),  # 1.919
        (D("7"), D("0.50"), D("0.04")),  # 0.035: the tie goes up
    ]
    assert (totals.net, totals.tax, totals.gross) == (D("10.60"), D("1.96"), D("12.56"))
    assert totals.breakdown()[0] == {
        "rate": "19.00",
        "category": "S",
        "net": "10.10",
        "tax": "1.92",
    }


def test_negated_lines_have_exactly_the_negated_totals():
    lines_ = [(D("19"), D("0.35")), (D("19"), D("0.40")), (D("7"), D("0.50"))]
    totals = calc.invoice_totals(lines_, reverse_charge=False)
    negated = calc.invoice_totals([(r, -n) for r, n in lines_], reverse_charge=False)
    assert (negated.net, negated.tax, negated.gross) == (-totals.net, -totals.tax, -totals.gross)


def test_reverse_charge_rule_and_customer_language():
    assert calc.reverse_charge_applies("AT", "ATU12345678")
    assert calc.reverse_charge_applies("fr", "FR12345678901")
    assert not calc.reverse_charge_applies("AT", "")  # no VAT ID: German VAT
    assert not calc.reverse_charge_applies("DE", "DE999999999")  # domestic
    assert not calc.reverse_charge_applies("CH", "CHE-123.456.789")  # not in the EU
    totals = calc.invoice_totals([(D("19"), D("100.00"))], reverse_charge=True)
    assert [(g.rate, g.category, g.tax) for g in totals.groups] == [(D("0"), "AE", D("0.00"))]
    assert totals.breakdown()[0]["exemption_reason_code"] == "VATEX-EU-AE"
    assert [calc.customer_language(c) for c in ("DE", "at", "CH", "FR", "")] == [
        "de",
        "de",
        "de",
        "en",
        "en",
    ]


def test_day_runs_split_by_gaps_and_keys():
    assert calc.day_runs([5, 1, 2, 3, 6, 7], lambda d: d >= 6) == [
        (1, 3, False),
        (5, 5, False),
        (6, 7, True),
    ]
    assert calc.parse_month("2026-03") == (2026, 3)
    for bad in ("2026-13", "2026-3", "März", "", "1999-01"):
        with pytest.raises(ValueError):
            calc.parse_month(bad)
    assert calc.previous_month(date(2026, 1, 1)) == "2025-12"


# --- who pays what -----------------------------------------------------------------------


def test_one_invoice_per_account_with_editions_and_per_tenant_fees(world, clock):
    alpha = account(world.alpha, name="Agentur Alpha GmbH")
    summary = run(clock)
    assert (summary.created, summary.existing) == (1, 0)
    invoice = invoice_of(alpha)
    # Alpha's own edition, and each tenant below it (the nearest master with Tenant
    # management is Alpha, also for Filiale below Kunde Eins) at its edition's fee.
    assert lines(invoice) == [
        ("Agentur Alpha", "professional", D("79.00"), D("1.0000"), 1, 31),
        ("Kunde Eins", "tenant_management", D("29.00"), D("1.0000"), 1, 31),
        ("Filiale Eins-A", "tenant_management", D("29.00"), D("1.0000"), 1, 31),
        ("Kunde Zwei", "tenant_management", D("249.00"), D("1.0000"), 1, 31),
    ]
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("386.00"),
        D("73.34"),
        D("459.34"),
    )
    assert invoice.tax_breakdown == [
        {"rate": "19.00", "category": "S", "net": "386.00", "tax": "73.34"}
    ]
    assert (invoice.number, invoice.series, invoice.sequence) == ("RE-2026-00001", "RE-2026", 1)
    assert (invoice.month, invoice.period_start, invoice.period_end) == (
        "2026-03",
        date(2026, 3, 1),
        date(2026, 3, 31),
    )
    assert invoice.issue_date == date(2026, 4, 1)
    assert invoice.tenant == world.alpha
    # Fremdagentur has no billing account: its tenant is not billed, and the run says so.
    assert summary.unbilled_tenants == 1
    assert summary.net_total == D("386.00") and summary.lines == 4


def test_invoice_records_every_mandatory_field_of_section_14(world, clock):
    alpha = account(world.alpha, name="Agentur Alpha GmbH")
    run(clock)
    invoice = invoice_of(alpha)
    supplier, customer = invoice.supplier, invoice.customer
    assert supplier["name"] == "Mandant GmbH"
    assert supplier["address"] == ["Friedrichstraße 123", "10117 Berlin"]
    assert supplier["vat_id"] == "DE123456789" and supplier["country"] == "DE"
    assert supplier["payment_days"] == 14 and supplier["iban"]
    assert customer == {
        "name": "Agentur Alpha GmbH",
        "address": ["Hauptstraße 1", "10115 Berlin"],
        "country": "DE",
        "vat_id": "",
        "email": "billing@agentur-alpha.example",
        "language": "de",
    }
    assert invoice.number and invoice.issue_date and invoice.period_start and invoice.period_end
    for line in selectors.invoice_lines(invoice):
        assert line.description and line.quantity and line.unit and line.vat_rate == D("19.00")
    assert invoice.tax_breakdown[0]["net"] == str(invoice.net_total)


def test_descriptions_are_in_the_customers_language(world, clock):
    alpha = account(world.alpha)  # DE: German
    fremd = account(world.fremd, country="GB", address="1 High Street\nLondon")  # English
    clock.move_to(berlin("2026-03-01T00:00"))
    activate(world.carl, world.kunde1, "copy_content")
    activate(member(world, world.fremd, ADMIN, "fay@fremd.example"), world.fremd, "copy_content")
    run(clock)
    alpha_lines = selectors.invoice_lines(invoice_of(alpha))
    fremd_lines = selectors.invoice_lines(invoice_of(fremd))
    item = "%(product)s, tenant %(tenant)s"
    assert alpha_lines[0].description == translated(
        "de", item, product="Edition PROFESSIONAL", tenant="Agentur Alpha"
    )
    assert alpha_lines[0].unit == translated("de", "month")
    # Product names come from the price list in the customer's language.
    assert alpha_lines[2].description == translated(
        "de", item, product="Copy Content", tenant="Kunde Eins"
    )
    assert alpha_lines[1].description == translated(
        "de",
        "Tenant management: sub-tenant %(tenant)s, %(edition)s",
        tenant="Kunde Eins",
        edition="Edition BASIC",
    )
    assert [line.description for line in fremd_lines] == [
        "Edition BASIC, tenant Fremdagentur",
        "Copy Content, tenant Fremdagentur",
    ]
    assert fremd_lines[0].unit == "month"
    assert invoice_of(alpha).customer["language"] == "de"
    assert invoice_of(fremd).customer["language"] == "en"
    assert unit_code(translated("de", "month")) == unit_code("month") == "MON"
    assert unit_code(translated("de", "1,000 mails")) == "T3" and unit_code("whatever") == "C62"


def test_sub_tenant_created_mid_month_is_prorated_to_the_day(world, clock):
    alpha = account(world.alpha)
    clock.move_to(berlin("2026-03-11T23:30"))  # the 11th counts, though it is late
    tenant_create(
        actor=Actor(user=world.paula),
        name="Kunde Drei",
        type="STANDARD",
        version="BASIC",
        master=world.alpha,
    )
    run(clock)
    [line] = [
        line for line in selectors.invoice_lines(invoice_of(alpha)) if "Drei" in line.tenant_name
    ]
    assert (line.service_start, line.service_end) == (date(2026, 3, 11), date(2026, 3, 31))
    assert line.quantity == D("0.6774")  # 21/31
    assert line.unit_price == D("29.0000")
    assert line.net_amount == D("19.65")  # 29 × 21 / 31 = 19.645… -> 19.65
    item = translated(
        "de",
        "Tenant management: sub-tenant %(tenant)s, %(edition)s",
        tenant="Kunde Drei",
        edition="Edition BASIC",
    )
    assert line.description == translated(
        "de", "%(item)s (%(days)s of %(month_days)s days)", item=item, days=21, month_days=31
    )


def test_addon_activated_and_removed_mid_month_with_setup_fee_once(world, clock):
    alpha = account(world.alpha)
    kunde2_admin = member(world, world.kunde2, ADMIN, "ada@kunde-zwei.example")
    clock.move_to(berlin("2026-03-11T12:00"))
    activate(kunde2_admin, world.kunde2, "dedicated_ip")
    clock.move_to(berlin("2026-03-20T10:00"))
    product_remove(actor=Actor(user=world.olga), tenant=world.kunde2, product_key="dedicated_ip")
    run(clock)
    got = [row for row in lines(invoice_of(alpha)) if row[1] == "dedicated_ip"]
    # 11th to 20th: 10 of 31 days of 49 € (15.806… -> 15.81); the set-up fee once.
    assert got == [
        ("Kunde Zwei", "dedicated_ip", D("15.81"), D("0.3226"), 11, 20),
        ("Kunde Zwei", "dedicated_ip", D("99.00"), D("1.0000"), 11, 11),
    ]
    # April: activated again -> no second set-up fee; and March's run is not repeated.
    clock.move_to(berlin("2026-04-10T09:00"))
    activate(kunde2_admin, world.kunde2, "dedicated_ip")
    clock.move_to(berlin("2026-05-01T08:00"))
    services.invoices_run(month="2026-04", render_documents=False)
    april = [row for row in lines(invoice_of(alpha, "2026-04")) if row[1] == "dedicated_ip"]
    assert april == [("Kunde Zwei", "dedicated_ip", D("34.30"), D("0.7000"), 10, 30)]


def test_deactivation_takes_effect_at_month_end_so_the_month_is_billed_whole(world, clock):
    alpha = account(world.alpha)
    clock.move_to(berlin("2026-03-05T12:00"))
    activate(world.carl, world.kunde1, "copy_content")
    clock.move_to(berlin("2026-03-20T12:00"))
    product_deactivate(
        actor=Actor(user=world.carl), tenant=world.kunde1, product_key="copy_content"
    )
    run(clock)
    got = [row for row in lines(invoice_of(alpha)) if row[1] == "copy_content"]
    assert got == [("Kunde Eins", "copy_content", D("13.06"), D("0.8710"), 5, 31)]  # 15×27/31
    clock.move_to(berlin("2026-05-01T08:00"))
    services.invoices_run(month="2026-04", render_documents=False)
    assert not [row for row in lines(invoice_of(alpha, "2026-04")) if row[1] == "copy_content"]


def test_price_change_mid_month_splits_the_line(world, clock):
    alpha = account(world.alpha)
    clock.move_to(berlin("2026-03-10T09:00"))
    price_add(
        actor=Actor(user=world.olga),
        product=product_by_key("basic"),
        valid_from=date(2026, 3, 16),
        monthly_fee="35.00",
    )
    run(clock)
    got = [row for row in lines(invoice_of(alpha)) if row[0] == "Kunde Eins"]
    assert got == [
        ("Kunde Eins", "tenant_management", D("14.03"), D("0.4839"), 1, 15),  # 29 × 15/31
        ("Kunde Eins", "tenant_management", D("18.06"), D("0.5161"), 16, 31),  # 35 × 16/31
    ]
    [first, second] = [
        line
        for line in selectors.invoice_lines(invoice_of(alpha))
        if line.tenant_name == "Kunde Eins"
    ]
    assert (first.unit_price, second.unit_price) == (D("29.0000"), D("35.0000"))


def test_trial_is_free_and_the_paid_activation_after_it_is_billed(world, clock):
    alpha = account(world.alpha)
    clock.move_to(berlin("2026-03-03T12:00"))
    outcome = activate(world.carl, world.kunde1, "tracking")  # 14 trial days
    assert outcome.activation.trial
    clock.move_to(berlin("2026-03-25T12:00"))  # the trial has run out
    assert not activate(world.carl, world.kunde1, "tracking").activation.trial
    run(clock)
    got = [row for row in lines(invoice_of(alpha)) if row[1] == "tracking"]
    assert got == [("Kunde Eins", "tracking", D("2.03"), D("0.2258"), 25, 31)]  # 9 × 7/31


def test_trial_converted_mid_month_is_billed_from_the_conversion_day(world, clock):
    alpha = account(world.alpha)
    clock.move_to(berlin("2026-03-03T12:00"))
    activate(world.carl, world.kunde1, "tracking")
    clock.move_to(berlin("2026-03-10T12:00"))
    activate(world.carl, world.kunde1, "tracking")  # paid from now on
    run(clock)
    got = [row for row in lines(invoice_of(alpha)) if row[1] == "tracking"]
    assert got == [("Kunde Eins", "tracking", D("6.39"), D("0.7097"), 10, 31)]  # 9 × 22/31


def test_sub_tenant_with_own_account_pays_its_addons_partner_pays_the_per_tenant_fee(world, clock):
    alpha = account(world.alpha)
    kunde2 = account(world.kunde2, name="Kunde Zwei AG")
    product_grant(actor=Actor(user=world.olga), tenant=world.kunde2, product_key="dedicated_ip")
    run(clock)
    assert ("Kunde Zwei", "tenant_management", D("249.00"), D("1.0000"), 1, 31) in lines(
        invoice_of(alpha)
    )
    # The grant was made before March (world time): only the monthly fee, no set-up fee.
    assert lines(invoice_of(kunde2)) == [
        ("Kunde Zwei", "dedicated_ip", D("49.00"), D("1.0000"), 1, 31)
    ]


def test_tenant_management_ending_mid_month_bills_the_edition_after_it(world, clock):
    fremd = account(world.fremd)
    kunde = tenant_create(
        actor=Actor(user=world.eve),
        name="Fremdkunde",
        type="STANDARD",
        version="BASIC",
        master=world.fremd,
    )
    clock.move_to(berlin("2026-03-16T10:00"))
    product_remove(
        actor=Actor(user=world.olga), tenant=world.fremd, product_key="tenant_management"
    )
    run(clock)
    got = [row for row in lines(invoice_of(fremd)) if row[0] == kunde.name]
    # Each day once: the partner's per-tenant fee while it had Tenant management, then the
    # sub-tenant's own edition (same account: the partner's).
    # The 16th counts for the per-tenant fee: Tenant management was in force that morning.
    assert got == [
        ("Fremdkunde", "basic", D("14.03"), D("0.4839"), 17, 31),
        ("Fremdkunde", "tenant_management", D("14.97"), D("0.5161"), 1, 16),
    ]
    assert sum(row[2] for row in got) == D("29.00")


def test_usage_above_the_quota_is_billed_per_thousand(world, clock):
    alpha = account(world.alpha)
    with scopes_disabled():
        UsageRecord.objects.create(tenant=world.kunde1, day=date(2026, 3, 2), quantity=15_000)
        UsageRecord.objects.create(tenant=world.kunde1, day=date(2026, 3, 31), quantity=10_000)
        UsageRecord.objects.create(tenant=world.kunde1, day=date(2026, 4, 1), quantity=99_000)
        UsageRecord.objects.create(tenant=world.kunde2, day=date(2026, 3, 2), quantity=5_000)
    services.usage_add(tenant=world.kunde1, quantity=1_234, day=date(2026, 3, 15))
    services.usage_add(tenant=world.kunde1, quantity=1, day=date(2026, 3, 15))
    assert (
        selectors.usage_total(tenant=world.kunde1, first=date(2026, 3, 1), last=date(2026, 3, 31))
        == 26_235
    )
    run(clock)
    usage = [
        line
        for line in selectors.invoice_lines(invoice_of(alpha))
        if line.product_key == "extra_mails"
    ]
    # BASIC includes 20,000: 6,235 above -> 6.235 × 1.50 € = 9.3525 -> 9.35. Kunde Zwei
    # (ENTERPRISE) stayed inside its quota: no line at all.
    [line] = usage
    assert (line.tenant_name, line.quantity, line.unit_price, line.net_amount) == (
        "Kunde Eins",
        D("6.2350"),
        D("1.5000"),
        D("9.35"),
    )
    assert line.unit == translated("de", "1,000 mails")
    assert line.description == translated(
        "de",
        "%(product)s, tenant %(tenant)s: %(used)s mails sent, %(included)s included",
        product="Mails über dem Kontingent der Edition",
        tenant="Kunde Eins",
        used="26.235",  # German digit grouping
        included="20.000",
    )


def test_reverse_charge_for_an_eu_business_customer(world, clock):
    fremd = account(world.fremd, country="AT", vat_id="ATU12345678", address="Ring 1\n1010 Wien")
    run(clock)
    invoice = invoice_of(fremd)
    assert invoice.reverse_charge
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (
        D("29.00"),
        D("0.00"),
        D("29.00"),
    )
    assert invoice.tax_breakdown == [
        {
            "rate": "0.00",
            "category": "AE",
            "net": "29.00",
            "tax": "0.00",
            "exemption_reason_code": "VATEX-EU-AE",
            "exemption_reason": "Reverse charge",
        }
    ]
    assert "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge)" in invoice.note
    assert "Reverse charge" in invoice.note
    assert [line.vat_rate for line in selectors.invoice_lines(invoice)] == [D("0.00")]
    assert invoice.customer["vat_id"] == "ATU12345678" and invoice.customer["language"] == "de"


def test_eu_customer_without_vat_id_and_non_eu_customer_pay_german_vat(world, clock):
    alpha = account(world.alpha, country="FR", address="1 rue de la Paix\n75002 Paris")
    fremd = account(world.fremd, country="CH", vat_id="CHE-123.456.789")
    run(clock)
    for acct in (alpha, fremd):
        invoice = invoice_of(acct)
        assert not invoice.reverse_charge and invoice.note == ""
        assert invoice.tax_total == calc.money(invoice.net_total * D("0.19"))


def test_root_and_tenants_without_account_are_not_billed(world, clock):
    account(world.root, name="Platform itself")
    summary = run(clock)
    # The platform's account pays for every partner below it, never for the root itself.
    [invoice] = list(selectors.invoices_of_month("2026-03"))
    tenants = {row[0] for row in lines(invoice)}
    assert "Mandant Platform" not in tenants
    assert {"Agentur Alpha", "Fremdagentur", "Kunde Eins"} <= tenants
    assert summary.unbilled_tenants == 0


# --- the run ------------------------------------------------------------------------------


def test_run_twice_creates_nothing_twice(world, clock):
    account(world.alpha)
    account(world.fremd)
    first = run(clock)
    second = run(clock)
    assert (first.created, first.existing) == (2, 0)
    assert (second.created, second.existing) == (0, 2)
    assert second.numbers == []
    with scopes_disabled():
        assert Invoice.objects.count() == 2
    # An account added later gets its invoice from a later run; numbers continue.
    account(world.kunde2)
    clock.move_to(berlin("2026-03-01T00:00"))  # (a correction of the data after the run)
    product_grant(actor=Actor(user=world.olga), tenant=world.kunde2, product_key="dedicated_ip")
    third = run(clock)
    assert third.numbers == ["RE-2026-00003"]


def test_month_must_be_valid_and_over(world, clock):
    clock.move_to(RUN_DAY)
    for bad in ("2026-13", "März", "", "2026-04", "2027-01"):
        with pytest.raises(ValidationError) as caught:
            services.invoices_run(month=bad, render_documents=False)
        assert "month" in caught.value.error_dict


def test_only_operators_run_and_each_run_is_audited(world, clock):
    account(world.alpha)
    clock.move_to(RUN_DAY)
    with pytest.raises(PermissionDenied):
        services.invoices_run(month="2026-03", actor=Actor(user=world.paula))
    with scopes_disabled():
        assert not Invoice.objects.exists()
    services.invoices_run(month="2026-03", actor=Actor(user=world.olga), render_documents=False)
    services.invoices_run(month="2026-03", render_documents=False)
    entries = list(AuditEntry.objects.filter(action="invoice.run").order_by("pk"))
    assert [(e.actor, e.changes["created"], e.changes["existing"]) for e in entries] == [
        (world.olga, 1, 0),
        (None, 0, 1),
    ]
    assert entries[0].changes["first_number"] == "RE-2026-00001"
    assert entries[0].changes["gross_total"] == "459.34"


def test_documents_are_enqueued_after_the_commit(
    world, clock, settings, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    settings.TASKS = DUMMY_TASKS
    account(world.alpha)
    account(world.fremd)
    from mandant.invoicing.tasks import render_and_send

    backend = render_and_send.get_backend()
    clock.move_to(RUN_DAY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        summary = services.invoices_run(month="2026-03")
        assert backend.results == []  # nothing before the commit
    for callback in callbacks:
        callback()
    queued = [r for r in backend.results if r.task.name == "render_and_send"]
    assert sorted(r.args[0] for r in queued) == sorted(summary.invoice_ids)
    backend.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.invoices_run(month="2026-02", render_documents=False)
    assert backend.results == []


def test_render_and_send_calls_the_document_service(world, clock, monkeypatch):  # type: ignore[no-untyped-def]
    import sys
    import types

    from mandant.invoicing.tasks import render_and_send

    called: list[int] = []
    module = types.ModuleType("mandant.invoicing.documents")
    module.invoice_document_create_and_send = lambda *, invoice_id: called.append(invoice_id)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mandant.invoicing.documents", module)
    assert render_and_send.call(42) == 42
    assert called == [42]


# --- corrections --------------------------------------------------------------------------


def test_cancellation_invoice_negates_every_line_and_refers_to_the_original(world, clock):
    alpha = account(world.alpha)
    run(clock)
    original = invoice_of(alpha)
    clock.move_to(berlin("2026-04-15T10:00"))
    cancellation = services.invoice_cancel(
        actor=Actor(user=world.olga), invoice=original, reason="Falsche Edition berechnet"
    )
    assert (cancellation.kind, cancellation.number) == (InvoiceKind.CANCELLATION, "ST-2026-00001")
    assert cancellation.refers_to == original
    assert cancellation.issue_date == date(2026, 4, 15)
    assert (cancellation.period_start, cancellation.period_end, cancellation.month) == (
        original.period_start,
        original.period_end,
        "2026-03",
    )
    assert (cancellation.net_total, cancellation.tax_total, cancellation.gross_total) == (
        -original.net_total,
        -original.tax_total,
        -original.gross_total,
    )
    assert [(name, key, -net, -qty, a, b) for name, key, net, qty, a, b in lines(cancellation)] == (
        lines(original)
    )
    assert all(line.unit_price >= 0 for line in selectors.invoice_lines(cancellation))
    assert "RE-2026-00001" in cancellation.note and "Falsche Edition" in cancellation.note
    assert cancellation.customer == original.customer
    assert selectors.invoice_corrections(original) == [cancellation]
    entry = AuditEntry.objects.get(action="invoice.cancel")
    assert entry.changes["original"] == "RE-2026-00001" and entry.actor == world.olga
    # Corrected once only.
    with pytest.raises(ValidationError) as caught:
        services.invoice_cancel(actor=None, invoice=original, reason="again")
    assert caught.value.error_dict["invoice"][0].code == "already_corrected"
    with pytest.raises(ValidationError):
        services.invoice_cancel(actor=None, invoice=cancellation, reason="a cancellation")
    # The original is unchanged; the month stays invoiced (a new invoice is not a rerun).
    original.refresh_from_db()
    assert original.gross_total == D("459.34")
    assert run(clock).created == 0


def test_cancellation_needs_an_operator_and_a_reason(world, clock):
    alpha = account(world.alpha)
    run(clock)
    original = invoice_of(alpha)
    admin = member(world, world.alpha, ADMIN, "anna@alpha.example")
    with pytest.raises(PermissionDenied):
        services.invoice_cancel(actor=Actor(user=admin), invoice=original, reason="x")
    with pytest.raises(ValidationError) as caught:
        services.invoice_cancel(actor=None, invoice=original, reason="  ")
    assert "reason" in caught.value.error_dict
    with scopes_disabled():
        assert Invoice.objects.count() == 1


def test_credit_notes_refer_to_the_original_and_never_exceed_it(world, clock):
    fremd = account(world.fremd, country="AT", vat_id="ATU12345678")
    run(clock)
    original = invoice_of(fremd)  # 29.00 net, reverse charge
    credit = services.credit_note_issue(
        actor=None, invoice=original, amount="10,00", reason="Ausfall am 3. März"
    )
    assert (credit.kind, credit.number, credit.refers_to) == (
        InvoiceKind.CREDIT_NOTE,
        "GS-2026-00001",
        original,
    )
    assert (credit.net_total, credit.tax_total, credit.gross_total) == (
        D("-10.00"),
        D("0.00"),
        D("-10.00"),
    )
    assert credit.reverse_charge and "Reverse Charge" in credit.note
    [line] = selectors.invoice_lines(credit)
    assert (line.quantity, line.unit_price, line.net_amount) == (
        D("-1.0000"),
        D("10.0000"),
        D("-10.00"),
    )
    assert "RE-2026-00001" in line.description
    for bad in ("0", "-5", "abc", "1.234", "19.01"):
        with pytest.raises(ValidationError) as caught:
            services.credit_note_issue(actor=None, invoice=original, amount=bad, reason="x")
        assert "amount" in caught.value.error_dict
    second = services.credit_note_issue(actor=None, invoice=original, amount="19.00", reason="y")
    assert second.number == "GS-2026-00002"
    # Fully credited now: a cancellation on top would credit twice.
    with pytest.raises(ValidationError):
        services.invoice_cancel(actor=None, invoice=original, reason="z")


def test_credit_note_at_a_german_vat_rate(world, clock):
    alpha = account(world.alpha)
    run(clock)
    credit = services.credit_note_issue(
        actor=None, invoice=invoice_of(alpha), amount="100.00", reason="Kulanz", vat_rate="19"
    )
    assert (credit.net_total, credit.tax_total, credit.gross_total) == (
        D("-100.00"),
        D("-19.00"),
        D("-119.00"),
    )
    with pytest.raises(ValidationError) as caught:
        services.credit_note_issue(
            actor=None, invoice=invoice_of(alpha), amount="1.00", reason="x", vat_rate="7"
        )
    assert "vat_rate" in caught.value.error_dict


# --- who sees invoices --------------------------------------------------------------------


def test_invoice_access_rule(world, clock):
    alpha = account(world.alpha)
    fremd = account(world.fremd)
    run(clock)
    number = invoice_of(alpha).number
    anna = member(world, world.alpha, ADMIN, "anna@alpha.example")
    assert (
        selectors.invoice_get_for_actor(Actor(user=anna), number.lower()).pk == invoice_of(alpha).pk
    )
    assert selectors.invoice_get_for_actor(Actor(user=world.olga), number).account == alpha
    with pytest.raises(PermissionDenied):  # Customer Service in Alpha: not the Administrator
        selectors.invoice_get_for_actor(Actor(user=world.paula), number)
    for outsider in (world.carl, world.eve):  # below Alpha, and another partner
        with pytest.raises(NotFound):
            selectors.invoice_get_for_actor(Actor(user=outsider), number)
    with pytest.raises(NotFound):
        selectors.invoice_get_for_actor(Actor(user=anna), "RE-2026-99999")
    assert [i.number for i in selectors.invoice_list(tenant=world.alpha)] == [number]
    assert [i.account for i in selectors.invoice_list(tenant=world.fremd)] == [fremd]
    assert list(selectors.invoice_list(tenant=world.kunde1)) == []
    assert selectors.invoice_get(tenant=world.alpha, number=number).account == alpha
    with pytest.raises(NotFound):
        selectors.invoice_get(tenant=world.fremd, number=number)


# --- CLI and schedule ---------------------------------------------------------------------


def test_cli_run_cancel_and_credit(world, clock):
    account(world.alpha)
    clock.move_to(RUN_DAY)
    out = StringIO()
    call_command("invoices", "run", "--no-documents", stdout=out)  # default: March
    assert "2026-03: 1 invoice(s) created (RE-2026-00001 … RE-2026-00001)" in out.getvalue()
    assert "gross 459.34 EUR" in out.getvalue()
    out = StringIO()
    call_command("invoices", "run", "--month", "2026-03", "--no-documents", stdout=out)
    assert "0 invoice(s) created" in out.getvalue() and "1 existed already" in out.getvalue()
    with pytest.raises(CommandError, match="month"):
        call_command("invoices", "run", "--month", "2026-04", "--no-documents")
    with pytest.raises(CommandError, match="No invoice"):
        call_command("invoices", "cancel", "RE-2026-00077", "--reason", "x")
    with pytest.raises(CommandError, match="service staff"):
        call_command(
            "invoices", "cancel", "RE-2026-00001", "--reason", "x", "--actor", world.paula.email
        )
    out = StringIO()
    call_command(
        "invoices", "credit", "RE-2026-00001", "--amount", "5", "--reason", "Kulanz", stdout=out
    )
    assert out.getvalue().startswith("GS-2026-00001\tcredits RE-2026-00001\t-5.95 EUR")
    with pytest.raises(CommandError, match="reason"):
        call_command("invoices", "cancel", "RE-2026-00001", "--reason", " ")
    with pytest.raises(CommandError, match="corrected already"):
        call_command("invoices", "cancel", "RE-2026-00001", "--reason", "falsch")


def test_schedule_enqueues_the_monthly_run_once(world, clock, settings):  # type: ignore[no-untyped-def]
    settings.TASKS = DUMMY_TASKS
    backend = monthly_invoice_run.get_backend()
    clock.move_to(berlin("2026-03-14T15:00"))
    assert next_run_at() == datetime(2026, 4, 1, 2, 0, tzinfo=BERLIN)
    assert next_run_at(berlin("2026-12-31T23:59")) == datetime(2027, 1, 1, 2, tzinfo=BERLIN)
    out = StringIO()
    call_command("invoices", "schedule", stdout=out)
    assert "2026-04-01T02:00:00+02:00" in out.getvalue()
    call_command("invoices", "schedule", stdout=StringIO())
    [pending] = backend.results
    assert pending.task.run_after == datetime(2026, 4, 1, 2, 0, tzinfo=BERLIN)
    # The run itself on the 1st: invoices the previous month, then schedules the next one.
    account(world.alpha)
    backend.clear()
    clock.move_to(datetime(2026, 4, 1, 2, 0, tzinfo=BERLIN))
    result = monthly_invoice_run.call()
    assert (result["month"], result["created"]) == ("2026-03", 1)
    [following] = [r for r in backend.results if r.task.name == "monthly_invoice_run"]
    assert following.task.run_after == datetime(2026, 5, 1, 2, 0, tzinfo=BERLIN)


def test_schedule_does_nothing_on_a_backend_that_cannot_defer(world, settings):  # type: ignore[no-untyped-def]
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default"],
        }
    }
    out = StringIO()
    call_command("invoices", "schedule", stdout=out)
    assert "already scheduled (or the backend cannot defer)" in out.getvalue()


def test_schedule_on_the_database_backend_counts_pending_runs(world, clock):
    from django_tasks_db.models import DBTaskResult

    from mandant.invoicing.tasks import invoices_schedule

    assert invoices_schedule() is not None
    assert invoices_schedule() is None
    assert DBTaskResult.objects.filter(task_path__endswith="monthly_invoice_run").count() == 1


def test_admin_shows_invoices_read_only_to_operators(world, clock):
    alpha = account(world.alpha)
    run(clock)
    invoice = invoice_of(alpha)
    with scopes_disabled():
        UsageRecord.objects.create(tenant=world.kunde1, day=date(2026, 3, 2), quantity=1)
    client = world.client_for(world.olga)
    for url in (
        "/admin/invoicing/invoice/",
        f"/admin/invoicing/invoice/{invoice.pk}/change/",
        "/admin/invoicing/numberseries/",
        "/admin/invoicing/usagerecord/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/invoicing/invoice/{invoice.pk}/change/").content.decode()
    assert "RE-2026-00001" in page and 'name="_save"' not in page
    assert client.post(f"/admin/invoicing/invoice/{invoice.pk}/delete/").status_code == 403
    assert client.get("/admin/invoicing/invoice/add/").status_code == 403

"""The invoice document: the Factur-X XML (EN 16931, valid against its XSD, embedded in the PDF
and extracted back unchanged) and the PDF text with every mandatory field of § 14 (4) UStG, in
German and in English, for invoices, reverse charge, cancellations and credit notes."""

from decimal import Decimal
from io import BytesIO

import facturx
import pytest
from django.utils import translation
from lxml import etree
from pypdf import PdfReader

from invoice_support import SUPPLIER, account_for, cancellation_of, make_invoice, many_lines
from mandant.invoicing.facturx import NS, invoice_xml, pdf_with_xml
from mandant.invoicing.models import InvoiceKind
from mandant.invoicing.pdf import invoice_render
from mandant.invoicing.selectors import invoice_lines
from pdf_text import pdf_text


def in_german(msgid: str, **values: str) -> str:
    """The sentence as the German PDF shows it (translated or, before that, in English)."""
    with translation.override("de"):
        return translation.gettext(msgid) % values


def xpath(xml: bytes, path: str) -> list[str]:
    return [
        str(node) if isinstance(node, str) else node.text
        for node in etree.fromstring(xml).xpath(path, namespaces=NS)
    ]


def one(xml: bytes, path: str) -> str:
    found = xpath(xml, path)
    assert len(found) == 1, (path, found)
    return found[0]


def assert_totals_consistent(xml: bytes) -> None:
    """The EN 16931 sums (BR-CO-10, -13, -14, -15, BR-S-08/BR-AE-08 per category)."""
    lines = [
        Decimal(v)
        for v in xpath(
            xml, "//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
        )
    ]
    head = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    line_total = Decimal(one(xml, head + "LineTotalAmount"))
    assert sum(lines) == line_total
    assert Decimal(one(xml, head + "TaxBasisTotalAmount")) == line_total
    taxes = xpath(
        xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount"
    )
    bases = xpath(
        xml, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount"
    )
    assert sum(Decimal(b) for b in bases) == line_total
    tax_total = Decimal(one(xml, head + "TaxTotalAmount"))
    assert sum(Decimal(t) for t in taxes) == tax_total
    assert Decimal(one(xml, head + "GrandTotalAmount")) == line_total + tax_total
    assert Decimal(one(xml, head + "DuePayableAmount")) == line_total + tax_total


@pytest.fixture
def german(world):  # type: ignore[no-untyped-def]
    account = account_for(
        world.alpha,
        name="Agentur Alpha GmbH",
        vat_id="DE999999999",
        email="buchhaltung@alpha.example",
    )
    return make_invoice(account)


@pytest.fixture
def french(world):  # type: ignore[no-untyped-def]
    account = account_for(
        world.fremd,
        name="Agence Étrangère SARL",
        address="1 rue de la Paix\n75002 Paris",
        country="FR",
        vat_id="FR12345678901",
    )
    return make_invoice(account)


def test_the_xml_is_en16931_valid_and_embedded_unchanged(german):
    rendered = invoice_render(german)
    assert facturx.xml_check_xsd(rendered.xml, flavor="factur-x", level="en16931") is True
    assert rendered.pdf.startswith(b"%PDF")
    filename, embedded = facturx.get_facturx_xml_from_pdf(rendered.pdf, check_xsd=True)
    assert (filename, embedded) == ("factur-x.xml", rendered.xml)
    assert facturx.get_level(etree.fromstring(embedded)) == "en16931"

    xml = rendered.xml
    assert (
        one(xml, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")
        == "urn:cen.eu:en16931:2017"
    )
    assert one(xml, "/rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID") == german.number
    assert one(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert one(xml, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20260201"
    seller = "//ram:SellerTradeParty/"
    assert one(xml, seller + "ram:Name") == "Mandant GmbH"
    assert one(xml, seller + "ram:PostalTradeAddress/ram:PostcodeCode") == "10117"
    assert one(xml, seller + "ram:PostalTradeAddress/ram:CityName") == "Berlin"
    assert one(xml, seller + "ram:PostalTradeAddress/ram:LineOne") == "Friedrichstraße 123"
    assert one(xml, seller + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']") == "DE123456789"
    assert (
        one(xml, seller + "ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']") == "30/123/45678"
    )
    assert one(xml, "//ram:BuyerTradeParty/ram:Name") == "Agentur Alpha GmbH"
    assert one(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == "DE999999999"
    assert one(xml, "//ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID") == "DE"
    # Lines: quantities with UN/ECE rec. 20 units; "1,000 mails" counts thousands (T3).
    units = xpath(xml, "//ram:BilledQuantity/@unitCode")
    quantities = xpath(xml, "//ram:BilledQuantity")
    assert list(zip(units, quantities, strict=True)) == [
        ("MON", "1"),
        ("MON", "0.5"),
        ("T3", "12.345"),
    ]
    assert xpath(xml, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == [
        "29.00",
        "15.00",
        "1.50",
    ]
    assert xpath(xml, "//ram:SpecifiedTradeProduct/ram:SellerAssignedID") == [
        "basic",
        "copy_content",
        "extra_mails",
    ]
    # Tax: standard rate 19 % on the sum of the lines; totals add up.
    tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"
    assert one(xml, tax + "CategoryCode") == "S"
    assert one(xml, tax + "RateApplicablePercent") == "19.00"
    assert one(xml, tax + "BasisAmount") == "55.02"
    assert one(xml, tax + "CalculatedAmount") == "10.45"
    assert_totals_consistent(xml)
    assert one(xml, "//ram:GrandTotalAmount") == str(german.gross_total) == "65.47"
    # Service period, payment terms and the account.
    assert (
        one(
            xml,
            "//ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString",
        )
        == "20260101"
    )
    assert (
        one(
            xml,
            "//ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString",
        )
        == "20260131"
    )
    assert (
        one(xml, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString")
        == "20260215"
    )
    assert one(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == "58"
    assert one(xml, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == SUPPLIER["iban"]
    assert xpath(xml, "//ram:InvoiceReferencedDocument") == []


def test_an_invalid_xml_is_refused_by_the_schema_and_not_embedded(german):
    """The checks can fail: the XSD rejects a document without its type code."""
    xml = invoice_xml(german, invoice_lines(german))
    tree = etree.fromstring(xml)
    type_code = tree.find(".//ram:TypeCode", NS)
    type_code.getparent().remove(type_code)
    broken = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    with pytest.raises(Exception, match="not valid against the official XML Schema"):
        facturx.xml_check_xsd(broken, flavor="factur-x", level="en16931")
    rendered = invoice_render(german)
    with pytest.raises(Exception, match="XML Schema"):
        pdf_with_xml(rendered.pdf, broken, invoice=german, title="x")


def test_the_german_pdf_has_every_section_14_field(german):
    rendered = invoice_render(german)
    assert rendered.language == "de"
    text = pdf_text(rendered.pdf)
    expected = [
        # supplier: name, address, VAT ID and tax number
        "Mandant GmbH",
        "Friedrichstraße 123",
        "10117 Berlin",
        "DE123456789",
        "30/123/45678",
        # customer: name and address
        "Agentur Alpha GmbH",
        "Hauptstraße 5",
        "80331 München",
        # invoice date and number, service period (German date format)
        "01.02.2026",
        german.number,
        "01.01.2026 – 31.01.2026",
        # quantity and description per line (German number format)
        "BASIC edition",
        "Copy Content",
        "Mails above the quota",
        "0,5",
        "12,345",
        # net per rate, the rate, the tax, the total
        "55,02 €",
        "19 %",
        "10,45 €",
        "65,47 €",
        # payment terms and the account
        "15.02.2026",
        SUPPLIER["iban"],
        SUPPLIER["bic"],
    ]
    missing = [value for value in expected if value not in text]
    assert missing == []
    assert "Reverse charge" not in text


def test_the_english_reverse_charge_invoice(french):
    rendered = invoice_render(french)
    assert rendered.language == "en"
    text = pdf_text(rendered.pdf)
    for value in (
        "Mandant GmbH",
        "DE123456789",
        "Agence Étrangère SARL",
        "1 rue de la Paix",
        "75002 Paris",
        "France",
        "FR12345678901",
        "1 Feb 2026",
        "1 Jan 2026 – 31 Jan 2026",
        french.number,
        "Invoice",
        "Service period",
        "Quantity",
        "12.345",
        "55.02 €",
        "0 %",
        "0.00 €",
        "Reverse charge: the recipient of the service is liable for the VAT",
    ):
        assert value in text, value
    xml = rendered.xml
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"
    assert one(xml, tax + "CategoryCode") == "AE"
    assert one(xml, tax + "ExemptionReasonCode") == "VATEX-EU-AE"
    assert "Reverse charge" in one(xml, tax + "ExemptionReason")
    assert one(xml, tax + "RateApplicablePercent") == "0.00"
    assert one(xml, tax + "CalculatedAmount") == "0.00"
    assert set(
        xpath(xml, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode")
    ) == {"AE"}
    assert (
        one(xml, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']")
        == "FR12345678901"
    )
    assert one(xml, "//ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID") == "FR"
    assert one(xml, "//ram:TaxTotalAmount") == "0.00"
    assert_totals_consistent(xml)


def test_a_cancellation_refers_to_the_original_and_credits_positive_amounts(german):
    cancellation = cancellation_of(german)
    assert cancellation.gross_total == -german.gross_total
    rendered = invoice_render(cancellation)
    xml = rendered.xml
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert one(xml, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert one(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == german.number
    assert (
        one(xml, "//ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString")
        == "20260201"
    )
    # A credit note states the credited amounts as positive numbers.
    assert one(xml, "//ram:GrandTotalAmount") == "65.47"
    assert xpath(xml, "//ram:BilledQuantity") == ["1", "0.5", "12.345"]
    assert xpath(xml, "//ram:SpecifiedTradeSettlementPaymentMeans") == []
    assert_totals_consistent(xml)
    text = pdf_text(rendered.pdf)
    assert (
        in_german(
            "This cancellation invoice cancels invoice %(number)s of %(date)s in full.",
            number=german.number,
            date="01.02.2026",
        )
        in text
    )
    assert cancellation.number in text and "-65,47 €" in text


def test_a_credit_note_refers_to_the_original(world, german):
    credit = make_invoice(
        german.account,
        lines=[
            (
                "copy_content",
                "Copy Content (not used)",
                Decimal("0.5"),
                "C62",
                Decimal("15.00"),
                Decimal("19.00"),
            )
        ],
        kind=InvoiceKind.CREDIT_NOTE,
        refers_to=german,
        sign=-1,
    )
    rendered = invoice_render(credit)
    assert facturx.xml_check_xsd(rendered.xml, flavor="factur-x", level="en16931")
    assert one(rendered.xml, "//rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert (
        one(rendered.xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == german.number
    )
    assert one(rendered.xml, "//ram:GrandTotalAmount") == "8.93"  # 7.50 + 1.43 VAT
    text = pdf_text(rendered.pdf)
    assert (
        in_german(
            "This credit note corrects invoice %(number)s of %(date)s.",
            number=german.number,
            date="01.02.2026",
        )
        in text
    )
    assert "-7,50 €" in text and "-1,43 €" in text and "-8,93 €" in text


def test_a_supplier_with_a_tax_number_only(world):
    account = account_for(world.alpha)
    invoice = make_invoice(account)
    invoice.supplier = {**SUPPLIER, "vat_id": ""}
    rendered = invoice_render(invoice)
    assert xpath(
        rendered.xml, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID/@schemeID"
    ) == ["FC"]
    assert "30/123/45678" in pdf_text(rendered.pdf)


def test_many_lines_split_over_pages_keep_every_line(world):
    account = account_for(world.alpha)
    invoice = make_invoice(account, lines=many_lines(45))
    rendered = invoice_render(invoice)
    text = pdf_text(rendered.pdf)
    assert len(PdfReader(BytesIO(rendered.pdf)).pages) >= 2
    for n in (1, 23, 45):
        assert f"Kunde {n:03d}" in text
    assert len(xpath(rendered.xml, "//ram:IncludedSupplyChainTradeLineItem")) == 45
    assert_totals_consistent(rendered.xml)

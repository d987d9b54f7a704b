"""The Factur-X / ZUGFeRD XML of an invoice (UN/CEFACT CII, profile EN 16931) and its
embedding into the invoice PDF.

Document types (UNTDID 1001): an invoice is 380; a credit note *and* a cancellation invoice
are 381. EN 16931 knows no "cancellation" type: 384 ("corrected invoice") replaces an invoice
by a corrected one, whereas a cancellation reverses it in full — which the standard expresses
as a credit note referring to the original (BT-25, ``InvoiceReferencedDocument``). A 381
carries the credited amounts as positive numbers, so the (negative) amounts of a cancellation
are written with their sign flipped.

Reverse charge: category AE at 0 % with the exemption reason and code ``VATEX-EU-AE``; the
buyer's VAT ID is given (BR-AE-02).

Units (UN/ECE Recommendation 20): the invoice run stores a label in the customer's language
and ``billable.unit_code`` maps it: MON month, C62 one (one-off fees, credits), T3 thousand
pieces for "1,000 mails" (the quantity counted in thousands).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from lxml import etree

from mandant.invoicing.billable import unit_code
from mandant.invoicing.calculation import (
    CATEGORY_REVERSE_CHARGE,
    REVERSE_CHARGE_NOTE,
    REVERSE_CHARGE_REASON_CODE,
    TaxGroup,
)
from mandant.invoicing.models import Invoice, InvoiceKind, InvoiceLine
from mandant.invoicing.snapshots import (
    Party,
    customer_of,
    due_date,
    invoice_language,
    payment_days,
    supplier_of,
    tax_groups,
)

GUIDELINE = "urn:cen.eu:en16931:2017"
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
TYPE_CODES = {
    InvoiceKind.INVOICE: "380",
    InvoiceKind.CREDIT_NOTE: "381",
    InvoiceKind.CANCELLATION: "381",
}
REVERSE_CHARGE_REASON = gettext_noop("Reverse charge: VAT to be accounted for by the recipient")
SEPA_CREDIT_TRANSFER = "58"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    node = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", attrs)
    if text is not None:
        node.text = text
    return node


def _date(parent: etree._Element, tag: str, day: date, *, qualified: bool = False) -> None:
    holder = _el(parent, tag)
    _el(
        holder,
        "qdt:DateTimeString" if qualified else "udt:DateTimeString",
        day.strftime("%Y%m%d"),
        format="102",
    )


def _amount(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _number(value: Decimal) -> str:
    """Up to four decimal places, without trailing zeros (quantities, unit prices)."""
    text = f"{value.quantize(Decimal('0.0001')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _price(value: Decimal) -> str:
    """A unit price: at least cents, up to four places."""
    text = _number(value)
    whole, _dot, places = text.partition(".")
    return f"{whole}.{places.ljust(2, '0')}"


def _party(parent: etree._Element, tag: str, party: Party) -> None:
    node = _el(parent, tag)
    _el(node, "ram:Name", party.name)
    address = _el(node, "ram:PostalTradeAddress")
    if party.postcode:
        _el(address, "ram:PostcodeCode", party.postcode)
    for line_tag, line in zip(
        ("ram:LineOne", "ram:LineTwo", "ram:LineThree"), party.street_lines[:3], strict=False
    ):
        _el(address, line_tag, line)
    if party.city:
        _el(address, "ram:CityName", party.city)
    _el(address, "ram:CountryID", party.country)
    if party.email:
        contact = _el(node, "ram:URIUniversalCommunication")
        _el(contact, "ram:URIID", party.email, schemeID="EM")
    if party.vat_id:
        registration = _el(node, "ram:SpecifiedTaxRegistration")
        _el(registration, "ram:ID", party.vat_id, schemeID="VA")
    if party.tax_number:
        registration = _el(node, "ram:SpecifiedTaxRegistration")
        _el(registration, "ram:ID", party.tax_number, schemeID="FC")


def _sign(invoice: Invoice) -> int:
    """-1 when a correction's amounts are stored negative: a 381 states them positive."""
    if invoice.kind != InvoiceKind.INVOICE and (invoice.gross_total < 0 or invoice.net_total < 0):
        return -1
    return 1


def _tax(
    parent: etree._Element, group: TaxGroup, sign: int, language: str, *, header: bool
) -> None:
    node = _el(parent, "ram:ApplicableTradeTax")
    if header:
        _el(node, "ram:CalculatedAmount", _amount(sign * group.tax))
    _el(node, "ram:TypeCode", "VAT")
    reverse_charge = group.category == CATEGORY_REVERSE_CHARGE
    if header and reverse_charge:
        _el(node, "ram:ExemptionReason", _in(language, REVERSE_CHARGE_REASON))
    if header:
        _el(node, "ram:BasisAmount", _amount(sign * group.net))
    _el(node, "ram:CategoryCode", group.category)
    if header and reverse_charge:
        _el(node, "ram:ExemptionReasonCode", REVERSE_CHARGE_REASON_CODE)
    _el(node, "ram:RateApplicablePercent", _amount(group.rate))


def _line(
    parent: etree._Element, line: InvoiceLine, invoice: Invoice, sign: int, language: str
) -> None:
    item = _el(parent, "ram:IncludedSupplyChainTradeLineItem")
    _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(line.position))
    product = _el(item, "ram:SpecifiedTradeProduct")
    _el(product, "ram:SellerAssignedID", line.product_key)
    _el(product, "ram:Name", line.description)
    if line.tenant_name:
        _el(product, "ram:Description", line.tenant_name)
    # The net price is never negative (BR-27): a negative line has a negative quantity.
    quantity = sign * line.quantity * (-1 if line.unit_price < 0 else 1)
    price = _el(_el(item, "ram:SpecifiedLineTradeAgreement"), "ram:NetPriceProductTradePrice")
    _el(price, "ram:ChargeAmount", _price(abs(line.unit_price)))
    delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
    _el(delivery, "ram:BilledQuantity", _number(quantity), unitCode=unit_code(line.unit))
    settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
    category = (
        CATEGORY_REVERSE_CHARGE if invoice.reverse_charge else "S" if line.vat_rate > 0 else "Z"
    )
    rate = Decimal("0.00") if invoice.reverse_charge else line.vat_rate
    group = TaxGroup(rate=rate, category=category, net=line.net_amount, tax=Decimal("0.00"))
    _tax(settlement, group, sign, language, header=False)
    period = _el(settlement, "ram:BillingSpecifiedPeriod")
    _date(period, "ram:StartDateTime", line.service_start)
    _date(period, "ram:EndDateTime", line.service_end)
    summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
    _el(summation, "ram:LineTotalAmount", _amount(sign * line.net_amount))


def _notes(document: etree._Element, invoice: Invoice, language: str) -> None:
    # The run writes the reverse-charge note (and a correction's reason) into ``note``.
    if invoice.note:
        _el(_el(document, "ram:IncludedNote"), "ram:Content", invoice.note)
    if invoice.reverse_charge and REVERSE_CHARGE_NOTE not in invoice.note:
        note = _el(document, "ram:IncludedNote")
        _el(note, "ram:Content", _in(language, REVERSE_CHARGE_REASON))
        _el(note, "ram:SubjectCode", "REG")


def _in(language: str, message: str) -> str:
    with translation.override(language):
        return translation.gettext(message)


def _payment_terms(invoice: Invoice, language: str) -> str:
    with translation.override(language):
        if invoice.kind != InvoiceKind.INVOICE:
            number = invoice.refers_to.number if invoice.refers_to else ""
            return _("Correction of invoice %(number)s: amounts already paid will be refunded.") % {
                "number": number
            }
        return _("Payable within %(days)s days without deduction.") % {
            "days": payment_days(invoice)
        }


def invoice_xml(invoice: Invoice, lines: Sequence[InvoiceLine]) -> bytes:
    """The CII XML (Factur-X profile EN 16931) of an invoice, UTF-8."""
    language = invoice_language(invoice)
    supplier, customer = supplier_of(invoice), customer_of(invoice)
    sign = _sign(invoice)
    root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.number)
    _el(document, "ram:TypeCode", TYPE_CODES[InvoiceKind(invoice.kind)])
    _date(document, "ram:IssueDateTime", invoice.issue_date)
    _notes(document, invoice, language)

    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for line in lines:
        _line(transaction, line, invoice, sign, language)
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    _el(agreement, "ram:BuyerReference", str(invoice.account_id))
    _party(agreement, "ram:SellerTradeParty", supplier)
    _party(agreement, "ram:BuyerTradeParty", customer)
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")

    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:PaymentReference", invoice.number)
    _el(settlement, "ram:InvoiceCurrencyCode", invoice.currency)
    if invoice.kind == InvoiceKind.INVOICE and supplier.iban:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", SEPA_CREDIT_TRANSFER)
        _el(_el(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", supplier.iban)
        if supplier.bic:
            institution = _el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            _el(institution, "ram:BICID", supplier.bic)
    groups = tax_groups(invoice, lines)
    for group in groups:
        _tax(settlement, group, sign, language, header=True)
    period = _el(settlement, "ram:BillingSpecifiedPeriod")
    _date(period, "ram:StartDateTime", invoice.period_start)
    _date(period, "ram:EndDateTime", invoice.period_end)
    terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    _el(terms, "ram:Description", _payment_terms(invoice, language))
    due = due_date(invoice)
    if due is not None:
        _date(terms, "ram:DueDateDateTime", due)

    line_total = sum((line.net_amount for line in lines), Decimal("0.00"))
    tax_total = sum((group.tax for group in groups), Decimal("0.00"))
    summation = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(summation, "ram:LineTotalAmount", _amount(sign * line_total))
    _el(summation, "ram:TaxBasisTotalAmount", _amount(sign * line_total))
    _el(summation, "ram:TaxTotalAmount", _amount(sign * tax_total), currencyID=invoice.currency)
    _el(summation, "ram:GrandTotalAmount", _amount(sign * (line_total + tax_total)))
    _el(summation, "ram:DuePayableAmount", _amount(sign * (line_total + tax_total)))
    if invoice.refers_to is not None:
        reference = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(reference, "ram:IssuerAssignedID", invoice.refers_to.number)
        _date(reference, "ram:FormattedIssueDateTime", invoice.refers_to.issue_date, qualified=True)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def pdf_with_xml(pdf: bytes, xml: bytes, *, invoice: Invoice, title: str) -> bytes:
    """Embed the XML into the PDF as ``factur-x.xml`` (PDF/A-3 attachment, relationship
    ``Data``) with the Factur-X XMP metadata. The library checks the XML against the XSD
    (about a millisecond) and refuses an invalid one."""
    import facturx  # imported here: only the renderers need it (pypdf, requests, …)

    language = invoice_language(invoice)
    supplier = supplier_of(invoice)
    result: bytes = facturx.generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata={
            "author": supplier.name,
            "keywords": "Factur-X, ZUGFeRD, EN 16931",
            "title": title,
            "subject": title,
        },
        lang="de-DE" if language == "de" else "en",
    )
    return result

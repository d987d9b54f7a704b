"""The PDF of an invoice: HTML rendered by WeasyPrint (as for the conditions PDF,
``billing/conditions_pdf.py``), PDF/A-3b, with the Factur-X XML embedded.

The document is in the customer's language (``snapshots.invoice_language``: German for
customers in DE/AT/CH/LI, otherwise English) and carries every mandatory field of
§ 14 (4) UStG: supplier and customer with their addresses, the supplier's VAT ID or tax
number, invoice date and number, the service period, quantity and description of each line,
the net amount, rate and tax per VAT rate, the reverse-charge note where it applies, and for
corrections the invoice they refer to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from mandant.invoicing.calculation import REVERSE_CHARGE_NOTE
from mandant.invoicing.facturx import invoice_xml, pdf_with_xml
from mandant.invoicing.models import Invoice, InvoiceKind, InvoiceLine
from mandant.invoicing.selectors import invoice_lines
from mandant.invoicing.snapshots import (
    customer_of,
    due_date,
    invoice_language,
    supplier_of,
    tax_groups,
)


@dataclass(frozen=True)
class RenderedInvoice:
    pdf: bytes  # with the XML embedded
    xml: bytes
    language: str


def document_title(invoice: Invoice, language: str) -> str:
    """ "Invoice", "Cancellation invoice", "Credit note" in the document's language."""
    with translation.override(language):
        if invoice.kind == InvoiceKind.CANCELLATION:
            return _("Cancellation invoice")
        if invoice.kind == InvoiceKind.CREDIT_NOTE:
            # Not "Gutschrift" in German: under § 14 (2) UStG that word means self-billing.
            return _("Credit note (invoice correction)")
        return _("Invoice")


def note_lines(invoice: Invoice) -> list[str]:
    """The invoice's note without the run's bilingual reverse-charge sentence: the document
    states that one itself, in its own language."""
    return [
        line.strip()
        for line in invoice.note.splitlines()
        if line.strip() and line.strip() != REVERSE_CHARGE_NOTE
    ]


def invoice_html(invoice: Invoice, lines: Sequence[InvoiceLine], language: str) -> str:
    with translation.override(language):
        return render_to_string(
            "invoicing/pdf/invoice.html",
            {
                "language": language,
                "invoice": invoice,
                "lines": lines,
                "supplier": supplier_of(invoice),
                "customer": customer_of(invoice),
                "groups": tax_groups(invoice, lines),
                "refers_to": invoice.refers_to,
                "due_date": due_date(invoice),
                "note_lines": note_lines(invoice),
                "title": document_title(invoice, language),
            },
        )


def html_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: only the renderers need it

    # PDF/A-3b: the archival form that may carry the XML as an attachment (Factur-X).
    pdf: bytes = HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")
    return pdf


def invoice_render(invoice: Invoice, lines: Sequence[InvoiceLine] | None = None) -> RenderedInvoice:
    """The PDF (Factur-X XML embedded) and the XML of an issued invoice."""
    lines = list(lines) if lines is not None else invoice_lines(invoice)
    language = invoice_language(invoice)
    xml = invoice_xml(invoice, lines)
    pdf = html_pdf(invoice_html(invoice, lines, language))
    title = f"{document_title(invoice, language)} {invoice.number}"
    return RenderedInvoice(
        pdf=pdf_with_xml(pdf, xml, invoice=invoice, title=title), xml=xml, language=language
    )

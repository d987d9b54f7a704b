"""The conditions of a product as a PDF (WeasyPrint), for the mail after an activation.

Rendered in a background task (``billing.tasks.send_conditions_mail``), never in a request:
WeasyPrint needs a few hundred milliseconds per document.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from mandant.billing.models import ConditionsAcceptance
from mandant.billing.selectors import price_on


def conditions_pdf_filename(acceptance: ConditionsAcceptance, language: str) -> str:
    with translation.override(language):
        stem = slugify(_("conditions")) or "conditions"
    return f"{stem}-{acceptance.product.key.replace('_', '-')}-v{acceptance.conditions.version}.pdf"


def conditions_html(acceptance: ConditionsAcceptance, language: str) -> str:
    conditions = acceptance.conditions
    with translation.override(language):
        return render_to_string(
            "billing/conditions_pdf.html",
            {
                "language": language,
                "acceptance": acceptance,
                "product": acceptance.product,
                "tenant": acceptance.tenant,
                "conditions": conditions,
                "text": conditions.text_for(language),
                "price": price_on(acceptance.product, timezone.localdate(acceptance.accepted_at)),
            },
        )


def conditions_pdf(acceptance: ConditionsAcceptance, language: str) -> bytes:
    from weasyprint import HTML  # imported here: only the task process needs it

    pdf: bytes = HTML(string=conditions_html(acceptance, language)).write_pdf()
    return pdf

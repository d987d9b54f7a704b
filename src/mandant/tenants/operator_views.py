"""Operator pages (service staff): CUSTOM tenants awaiting configuration, products, outbox,
system notices."""

import base64
import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from mandant.core.errors import PermissionDenied
from mandant.core.ids import as_pk
from mandant.core.web import OperatorRequest, apply_service_errors, operator_view
from mandant.notices import services as notice_services
from mandant.notices.forms import NoticeForm, OutboxFilterForm
from mandant.notices.models import OutboundMessage
from mandant.notices.selectors import (
    MailParts,
    kept_campaign_mail,
    kept_campaign_message,
    mail_parts,
    notice_list,
    outbound_message,
    outbound_messages,
    outbox_copy,
)
from mandant.tenants import services
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import (
    partner_tenants,
    tenant_by_id,
    tenants_awaiting_configuration,
)


def _tenant_or_404(tenant_id: int) -> Tenant:
    tenant = tenant_by_id(tenant_id)
    if tenant is None:
        raise Http404
    return tenant


@operator_view
def dashboard(request: OperatorRequest) -> HttpResponse:
    return render(
        request,
        "operator/dashboard.html",
        {"awaiting": tenants_awaiting_configuration(), "partners": partner_tenants()},
    )


@operator_view
@require_POST
def mark_configured(request: OperatorRequest, tenant_id: int) -> HttpResponse:
    tenant = _tenant_or_404(tenant_id)
    services.tenant_mark_configured(actor=request.actor, tenant=tenant)
    messages.success(request, _("“%(name)s” is marked as configured.") % {"name": tenant.name})
    return redirect("operator:dashboard")


@operator_view
@require_POST
def set_management(request: OperatorRequest, tenant_id: int) -> HttpResponse:
    tenant = _tenant_or_404(tenant_id)
    active = request.POST.get("active") == "1"
    services.tenant_set_management_active(
        actor=request.actor,
        tenant=tenant,
        active=active,
    )
    messages.success(
        request,
        _("Tenant management for “%(name)s” is now %(state)s.")
        % {"name": tenant.name, "state": _("active") if active else _("inactive")},
    )
    return redirect("operator:dashboard")


def _before(request: OperatorRequest) -> int | None:
    """The ``before`` id of the campaign mail page (None: the newest page)."""
    return as_pk(request.GET.get("before", "")) or None


@operator_view
def outbox(request: OperatorRequest) -> HttpResponse:
    """Every recorded outbound message with its delivery state (newest first), and below it
    the campaign mail the outbox transport kept (every tenant's: a test transport), paged."""
    form = OutboxFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_bound and form.is_valid() else ""
    before = _before(request)
    response = render(
        request,
        "operator/outbox.html",
        {
            "filter_form": form,
            "messages_list": outbound_messages(status=status),
            "kept": kept_campaign_mail(before=before),
            "before": before,
            "status": status,
        },
        status=400 if form.is_bound and form.errors else 200,
    )
    return response


@operator_view
def outbox_kept(request: OperatorRequest, message_id: int) -> HttpResponse:
    """One kept campaign message: its parts as the recipient's mail program would show them."""
    message = kept_campaign_message(message_id)
    if message is None:
        raise Http404
    parts = mail_parts(bytes(message.raw)) if message.raw else None
    return render(
        request,
        "operator/outbox_kept.html",
        {
            "message": message,
            "parts": parts,
            "text": parts.text if parts is not None else message.body,
            # Shown in <iframe sandbox="" srcdoc="…">: no scripts, no forms, no same origin.
            "html": parts.html if parts is not None else "",
        },
    )


CID_RE = re.compile(r"""(["'(])cid:([^"')\s]+)""")


def _inline_images(html: str, parts: MailParts | None, message: OutboundMessage) -> str:
    """Show inline (``cid:``) images in the preview as data: URLs."""
    images = dict(parts.images) if parts is not None else {}
    if not images and message.logo_cid and message.tenant is not None:
        from mandant.notices.delivery import logos_for

        logo = logos_for([message]).get(message.tenant.pk)
        if logo:
            images[message.logo_cid] = ("image/png", logo)

    def replace(match: re.Match[str]) -> str:
        image = images.get(match.group(2))
        if image is None:
            return match.group(0)
        ctype, data = image
        return f"{match.group(1)}data:{ctype};base64,{base64.b64encode(data).decode()}"

    return CID_RE.sub(replace, html)


@operator_view
def outbox_detail(request: OperatorRequest, message_id: int) -> HttpResponse:
    message = outbound_message(message_id)
    if message is None:
        raise Http404
    copy = outbox_copy(message)
    parts = mail_parts(bytes(copy.raw)) if copy is not None and copy.raw else None
    text = parts.text if parts is not None else message.text_body
    html = parts.html if parts is not None else message.html_body
    return render(
        request,
        "operator/outbox_detail.html",
        {
            "message": message,
            "copy": copy,
            "parts": parts,
            "text": text,
            # Shown in <iframe sandbox="" srcdoc="…">: no scripts, no forms, no same origin.
            "html": _inline_images(html, parts, message),
        },
    )


@operator_view
def notices(request: OperatorRequest) -> HttpResponse:
    return render(request, "operator/notices.html", {"notices": notice_list()})


@operator_view
@require_http_methods(["GET", "POST"])
def notice_new(request: OperatorRequest) -> HttpResponse:
    form = NoticeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        valid = form.is_valid()
        starts_at, ends_at = (form.cleaned_data.get(name) for name in ("starts_at", "ends_at"))
        # A refused field keeps the service from running: ask it about the window anyway.
        window_error = (
            notice_services.notice_window_error(starts_at, ends_at)
            if not valid and starts_at and ends_at and "ends_at" not in form.errors
            else None
        )
        if window_error:
            form.add_error("ends_at", window_error)
        if valid:
            data = form.cleaned_data
            try:
                notice = notice_services.notice_create(
                    actor=request.actor,
                    kind=data["kind"],
                    severity=data["severity"],
                    title_en=data["title_en"],
                    title_de=data["title_de"],
                    body_en=data["body_en"],
                    body_de=data["body_de"],
                    scope=data["scope"],
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                )
            except ValidationError as error:
                apply_service_errors(form, error)
            except PermissionDenied as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request,
                    _(
                        "The notice “%(title)s” is published; the mails to the administrators "
                        "are being sent."
                    )
                    % {"title": notice.title_for(request.LANGUAGE_CODE)},
                )
                return redirect("operator:notices")
        status = 422
    return render(request, "operator/notice_form.html", {"form": form}, status=status)

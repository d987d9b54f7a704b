"""Campaign pages under ``/t/<slug>/campaigns/``: parse, call a service or selector, render."""

import html as html_lib
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mandant.accounts.roles import Action, role_allows
from mandant.campaigns import selectors, services
from mandant.campaigns.checklist import campaign_checklist
from mandant.campaigns.forms import CampaignForm, FromDraftForm, ScheduleForm, TestSendForm
from mandant.campaigns.message import (
    build_campaign_message,
    display_subjects,
    personal_values,
    render_parts,
    site_url,
    split_personal,
)
from mandant.campaigns.models import Campaign, CampaignStatus
from mandant.campaigns.pipeline import delivery_counts
from mandant.campaigns.statistics import campaign_statistics, statistics_bars
from mandant.contacts.models import Contact
from mandant.content.models import ContentItem, ContentKind
from mandant.content.selectors import live_items_of_kind
from mandant.content.views import PREVIEW_CSP, inline_images_for, preview_csp
from mandant.core.errors import NotFound
from mandant.core.web import (
    TenantRequest,
    apply_service_errors,
    request_may,
    require,
    tenant_view,
)
from mandant.notices.backends import keeps_mail


def _campaign(request: TenantRequest, campaign_id: int) -> Campaign:
    try:
        return selectors.campaign_get(tenant=request.tenant, pk=campaign_id)
    except NotFound:
        raise Http404 from None


def _may_edit(request: TenantRequest) -> bool:
    return role_allows(request.grant.role, Action.CAMPAIGN_EDIT)


def _drafts(request: TenantRequest) -> list[tuple[int, str]]:
    return [(d.pk, d.name) for d in live_items_of_kind(request.tenant, ContentKind.CAMPAIGN_DRAFT)]


def _form_values(form: CampaignForm) -> dict[str, Any]:
    return dict(form.cleaned_data)


def _initial(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "sender_identity": campaign.sender_identity_id,
        "sender_alias": campaign.sender_alias,
        "reply_to": campaign.reply_to,
        "template": campaign.template_id,
        "block_keys": list(campaign.block_keys or []),
        "contact_list": campaign.contact_list_id,
        "segment": campaign.segment_id,
        "tracking": campaign.tracking,
    }


@tenant_view(Action.CAMPAIGN_VIEW)
@require_GET
def campaign_list(request: TenantRequest) -> HttpResponse:
    campaigns = list(
        selectors.campaign_list(tenant=request.tenant).select_related("contact_list", "segment")[
            :200
        ]
    )
    for campaign in campaigns:
        campaign.tenant = request.tenant  # one tenant for every row, not a query each
    subjects = display_subjects(campaigns, contact=_preview_contact(request))
    rows = [
        {
            "campaign": c,
            "subject": subjects[c.pk],
            "recipients": selectors.recipient_count(campaign=c),
        }
        for c in campaigns
    ]
    return render(
        request,
        "campaigns/list.html",
        {"section": "campaigns", "rows": rows},
    )


@tenant_view(Action.CAMPAIGN_EDIT)
@require_http_methods(["GET", "POST"])
def campaign_new(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    drafts = _drafts(request)
    form = CampaignForm(tenant=tenant, initial={"name": _("New campaign")})
    draft_form = FromDraftForm(drafts=drafts)
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("start") == "draft":
                draft_form = FromDraftForm(request.POST, drafts=drafts)
                if draft_form.is_valid():
                    draft = ContentItem.objects.filter(
                        tenant=tenant, pk=draft_form.cleaned_data["draft"]
                    ).first()
                    if draft is None:
                        raise Http404
                    campaign = services.campaign_from_draft(
                        actor=request.actor,
                        tenant=tenant,
                        draft=draft,
                        name=draft_form.cleaned_data["name"],
                    )
                    return redirect("campaigns:edit", tenant.slug, campaign.pk)
            else:
                form = CampaignForm(request.POST, tenant=tenant)
                if form.is_valid():
                    campaign = services.campaign_create(
                        actor=request.actor, tenant=tenant, **_form_values(form)
                    )
                    return redirect("campaigns:edit", tenant.slug, campaign.pk)
        except ValidationError as exc:
            apply_service_errors(draft_form if request.POST.get("start") == "draft" else form, exc)
        status = 422
    return render(
        request,
        "campaigns/new.html",
        {
            "section": "campaigns",
            "form": form,
            "draft_form": draft_form,
            "has_drafts": bool(drafts),
        },
        status=status,
    )


@tenant_view(Action.CAMPAIGN_VIEW)
@require_http_methods(["GET", "POST"])
def campaign_edit(request: TenantRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = CampaignForm(tenant=request.tenant, initial=_initial(campaign))
    status = 200
    if request.method == "POST":
        require(request, Action.CAMPAIGN_EDIT)
        form = CampaignForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                services.campaign_update(
                    actor=request.actor,
                    tenant=request.tenant,
                    campaign=campaign,
                    **_form_values(form),
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("The campaign was saved."))
                return redirect("campaigns:edit", request.tenant.slug, campaign.pk)
        status = 422
    return _edit_page(request, campaign, form, status=status)


def _edit_page(
    request: TenantRequest,
    campaign: Campaign,
    form: CampaignForm,
    *,
    status: int = 200,
    schedule_form: ScheduleForm | None = None,
) -> HttpResponse:
    may_edit = _may_edit(request) and campaign.status == CampaignStatus.DRAFT
    if not may_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "campaigns/edit.html",
        {
            "section": "campaigns",
            "campaign": campaign,
            "form": form,
            "may_edit": may_edit,
            "ready_to_send": campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
            and _may_edit(request)
            and all(c.ok for c in campaign_checklist(campaign)),
            "schedule_form": schedule_form or ScheduleForm(),
            "progress": None if campaign.status == CampaignStatus.DRAFT else _progress(campaign),
            "live": campaign.status in (CampaignStatus.SENDING, CampaignStatus.SCHEDULED),
            "statistics": None
            if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
            else statistics_bars(campaign_statistics(campaign)),
        },
        status=status,
    )


def _progress(campaign: Campaign) -> dict[str, Any]:
    counts = delivery_counts(campaign)
    done = counts["sent"] + counts["failed"]
    total = counts["total"]
    live = campaign.status in (CampaignStatus.SENDING, CampaignStatus.SCHEDULED)
    return {
        **counts,
        "done": done,
        "percent": 100 if not total else done * 100 // total,
        # The polling script (app.js) reloads the page once the status is "done".
        "status": "running" if live else "done",
        "campaign_status": campaign.status,
    }


@tenant_view(Action.CAMPAIGN_VIEW)
@require_GET
def campaign_progress(request: TenantRequest, campaign_id: int) -> HttpResponse:
    return JsonResponse(_progress(_campaign(request, campaign_id)))


# Each button of the sending controls: the service and the message after it.
_SEND_ACTIONS = {
    "send": (services.campaign_send, gettext_lazy("The campaign is being sent.")),
    "pause": (services.campaign_pause, gettext_lazy("The campaign was paused.")),
    "resume": (services.campaign_resume, gettext_lazy("The campaign is being sent again.")),
    "cancel": (services.campaign_cancel, gettext_lazy("The campaign was cancelled.")),
    "unschedule": (
        services.campaign_unschedule,
        gettext_lazy("The campaign is no longer scheduled; it is a draft again."),
    ),
}


@tenant_view(Action.CAMPAIGN_EDIT)
@require_POST
def campaign_control(request: TenantRequest, campaign_id: int, action: str) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    if action not in _SEND_ACTIONS:
        raise Http404
    service, done = _SEND_ACTIONS[action]
    try:
        service(actor=request.actor, tenant=request.tenant, campaign=campaign)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, str(done))
    return redirect("campaigns:edit", request.tenant.slug, campaign.pk)


@tenant_view(Action.CAMPAIGN_EDIT)
@require_POST
def campaign_schedule(request: TenantRequest, campaign_id: int) -> HttpResponse:
    """Send at a time (in the current time zone); errors on the campaign page, with the time
    as entered."""
    campaign = _campaign(request, campaign_id)
    schedule_form = ScheduleForm(request.POST)
    if schedule_form.is_valid():
        try:
            services.campaign_send(
                actor=request.actor,
                tenant=request.tenant,
                campaign=campaign,
                at=schedule_form.cleaned_data["at"],
            )
        except ValidationError as exc:
            apply_service_errors(schedule_form, exc)
        else:
            messages.success(
                request,
                _("The campaign will go out on %(time)s (%(tz)s).")
                % {
                    "time": date_format(timezone.localtime(campaign.send_at), "DATETIME_FORMAT"),
                    "tz": timezone.get_current_timezone_name(),
                },
            )
            return redirect("campaigns:edit", request.tenant.slug, campaign.pk)
    form = CampaignForm(tenant=request.tenant, initial=_initial(campaign))
    return _edit_page(request, campaign, form, status=422, schedule_form=schedule_form)


@tenant_view(Action.CAMPAIGN_EDIT)
@require_POST
def campaign_delete(request: TenantRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        services.campaign_delete(actor=request.actor, tenant=request.tenant, campaign=campaign)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("campaigns:edit", request.tenant.slug, campaign.pk)
    messages.success(request, _("The campaign was deleted."))
    return redirect("campaigns:list", request.tenant.slug)


def _checklist_page(
    request: TenantRequest, campaign: Campaign, form: TestSendForm, status: int = 200
) -> HttpResponse:
    checks = campaign_checklist(
        campaign,
        may_create_administrator=request_may(request, Action.USER_CREATE_ADMINISTRATOR),
    )
    return render(
        request,
        "campaigns/checklist.html",
        {
            "section": "campaigns",
            "campaign": campaign,
            "checks": checks,
            "test_ready": all(c.ok for c in checks if c.key != "recipients"),
            "test_form": form,
            "keeps_mail": keeps_mail(),
        },
        status=status,
    )


@tenant_view(Action.CAMPAIGN_VIEW)
@require_GET
def campaign_checklist_view(request: TenantRequest, campaign_id: int) -> HttpResponse:
    return _checklist_page(
        request,
        _campaign(request, campaign_id),
        TestSendForm(initial={"to_email": request.user.email}),  # type: ignore[union-attr]
    )


@tenant_view(Action.CAMPAIGN_EDIT)
@require_POST
def campaign_test_send(request: TenantRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = TestSendForm(request.POST)
    if form.is_valid():
        try:
            services.campaign_test_send(
                actor=request.actor,
                tenant=request.tenant,
                campaign=campaign,
                to_email=form.cleaned_data["to_email"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            address = {"address": form.cleaned_data["to_email"]}
            messages.success(
                request,
                _("The test to %(address)s was kept in the outbox.") % address
                if keeps_mail()
                else _("A test was sent to %(address)s.") % address,
            )
            return redirect("campaigns:checklist", request.tenant.slug, campaign.pk)
    return _checklist_page(request, campaign, form, status=422)


def _preview_contact(request: TenantRequest) -> Contact:
    user = request.actor.user
    return Contact(
        tenant=request.tenant,
        email=user.email,
        first_name=user.first_name or _("Erika"),
        last_name=user.last_name or _("Mustermann"),
    )


@tenant_view(Action.CAMPAIGN_VIEW)
@require_GET
def campaign_preview(request: TenantRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    skeleton = build_campaign_message(campaign)
    values = personal_values(skeleton, _preview_contact(request))
    values["unsubscribe_url"] = "#unsubscribe"
    return render(
        request,
        "campaigns/preview.html",
        {
            "section": "campaigns",
            "campaign": campaign,
            "subject": skeleton.subject.fill(values),
            "preheader": skeleton.rendered["preheader"],
            "text": skeleton.text.fill(values),
            "frozen": skeleton.frozen,
        },
    )


@xframe_options_sameorigin
@tenant_view(Action.CAMPAIGN_VIEW)
@require_GET
def campaign_render(request: TenantRequest, campaign_id: int) -> HttpResponse:
    """The preview document, for ``<iframe sandbox>`` on the preview page only."""
    campaign = _campaign(request, campaign_id)
    skeleton = build_campaign_message(campaign)
    values = personal_values(skeleton, _preview_contact(request))
    values["unsubscribe_url"] = "#unsubscribe"
    escaped = {k: html_lib.escape(v) for k, v in values.items()}
    if skeleton.frozen:
        # As sent: its images are the public image route's URLs, on SITE_URL.
        document = skeleton.html.fill(escaped)
        site = urlsplit(site_url("/"))
        origin = f"{site.scheme}://{site.netloc}" if site.netloc else ""
        csp = preview_csp(origin)
    else:
        parts = render_parts(campaign, asset_url=inline_images_for(request.tenant))
        document = split_personal(parts["html"], escape=True).fill(escaped)
        csp = PREVIEW_CSP
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = csp
    response["Cache-Control"] = "private, no-cache"
    return response

"""Campaigns of a tenant, under ``/api/v1/tenants/{id}/campaigns``.

Every handler opens the tenant's scope itself and looks every id up inside that tenant: an id
of another tenant is a 404. ``POST …/{cid}/send`` starts the sending pipeline.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django_scopes import scope
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import Field

from mandant.accounts.roles import Action
from mandant.api.auth import actor_of
from mandant.api.inputs import Input, errors_renamed, max_length
from mandant.api.tenants import DetailOut, ErrorOut
from mandant.campaigns import selectors, services
from mandant.campaigns.checklist import campaign_checklist
from mandant.campaigns.models import Campaign, CampaignStatus
from mandant.campaigns.pipeline import current_rate, delivery_counts
from mandant.campaigns.statistics import campaign_statistics
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import tenant_get_for_actor

router = Router(tags=["campaigns"])


class CheckOut(Schema):
    key: str
    ok: bool
    label: str


class LinkStatisticsOut(Schema):
    url: str
    clicks: int
    unique_clicks: int


class StatisticsOut(Schema):
    sent: int
    delivered: int
    bounced: int
    failed: int
    unsubscribed: int
    # Opens and clicks: null unless the campaign was sent with tracking (campaigns.tracking).
    opens: int | None = None
    unique_opens: int | None = None
    clicks: int | None = None
    unique_clicks: int | None = None
    open_rate: float | None = Field(None, description="unique opens per delivered, in percent")
    click_rate: float | None = Field(None, description="unique clicks per delivered, in percent")
    links: list[LinkStatisticsOut] | None = None


class CampaignOut(Schema):
    id: int
    name: str
    subject: str
    preheader: str
    sender_identity_id: int | None
    sender_alias: str
    reply_to: str
    template_id: int | None
    block_keys: list[str]
    list_id: int | None
    segment_id: int | None
    tracking: bool
    status: str
    checklist: list[CheckOut]
    sent: int
    failed: int
    remaining: int
    # Messages per second over the last ten seconds while the campaign sends, else 0.
    rate: float
    statistics: StatisticsOut


class CampaignSummaryOut(Schema):
    id: int
    name: str
    subject: str
    status: str


def _width(field: str) -> int:
    return max_length(Campaign, field)


class CampaignIn(Input):
    name: str = Field(max_length=_width("name"))
    subject: str = Field("", max_length=_width("subject"))
    preheader: str = Field("", max_length=_width("preheader"))
    sender_identity_id: int | None = None
    sender_alias: str = Field("", max_length=_width("sender_alias"))
    reply_to: str = Field("", max_length=_width("reply_to"))
    template_id: int | None = None
    block_keys: list[str] = Field(default_factory=list)
    list_id: int | None = None
    segment_id: int | None = None
    tracking: bool = False


class CampaignPatch(Input):
    name: str | None = Field(None, max_length=_width("name"))
    subject: str | None = Field(None, max_length=_width("subject"))
    preheader: str | None = Field(None, max_length=_width("preheader"))
    sender_identity_id: int | None = None
    sender_alias: str | None = Field(None, max_length=_width("sender_alias"))
    reply_to: str | None = Field(None, max_length=_width("reply_to"))
    template_id: int | None = None
    block_keys: list[str] | None = None
    list_id: int | None = None
    segment_id: int | None = None
    tracking: bool | None = None


# API field -> service field.
FIELD_NAMES = {
    "sender_identity_id": "sender_identity",
    "template_id": "template",
    "list_id": "contact_list",
    "segment_id": "segment",
}


REQUEST_NAMES = {service: request for request, service in FIELD_NAMES.items()}


def _values(payload: dict[str, Any]) -> dict[str, Any]:
    return {FIELD_NAMES.get(k, k): v for k, v in payload.items()}


@contextmanager
def tenant_scope(request: HttpRequest, tenant_id: int, action: Action) -> Iterator[Tenant]:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    with scope(tenant=tenant.pk):
        selectors.campaign_grant(actor, tenant, action)
        yield tenant


def campaign_out(campaign: Campaign) -> CampaignOut:
    is_draft = campaign.status == CampaignStatus.DRAFT
    recipients = selectors.recipient_count(campaign=campaign) if is_draft else 0
    counts = delivery_counts(campaign)
    return CampaignOut(
        id=campaign.pk,
        name=campaign.name,
        subject=campaign.subject,
        preheader=campaign.preheader,
        sender_identity_id=campaign.sender_identity_id,
        sender_alias=campaign.sender_alias,
        reply_to=campaign.reply_to,
        template_id=campaign.template_id,
        block_keys=list(campaign.block_keys or []),
        list_id=campaign.contact_list_id,
        segment_id=campaign.segment_id,
        tracking=campaign.tracking,
        status=campaign.status,
        checklist=[
            CheckOut(key=c.key, ok=c.ok, label=c.label) for c in campaign_checklist(campaign)
        ],
        sent=counts["sent"],
        failed=counts["failed"],
        remaining=recipients if is_draft else counts["remaining"],
        rate=current_rate(campaign),
        statistics=StatisticsOut(**campaign_statistics(campaign)),
    )


@router.get(
    "/{id:tenant_id}/campaigns",
    response={200: list[CampaignSummaryOut], 403: DetailOut, 404: DetailOut},
    summary="The tenant's campaigns, most recently changed first",
)
def list_campaigns(request: HttpRequest, tenant_id: int) -> list[CampaignSummaryOut]:
    with tenant_scope(request, tenant_id, Action.CAMPAIGN_VIEW) as tenant:
        return [
            CampaignSummaryOut(id=c.pk, name=c.name, subject=c.subject, status=c.status)
            for c in selectors.campaign_list(tenant=tenant)
        ]


@router.post(
    "/{id:tenant_id}/campaigns",
    response={201: CampaignOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Create a campaign draft",
)
def create_campaign(
    request: HttpRequest, tenant_id: int, payload: CampaignIn
) -> Status[CampaignOut]:
    with tenant_scope(request, tenant_id, Action.CAMPAIGN_EDIT) as tenant:
        with errors_renamed(REQUEST_NAMES):
            campaign = services.campaign_create(
                actor=actor_of(request), tenant=tenant, **_values(payload.dict())
            )
        return Status(201, campaign_out(campaign))


@router.get(
    "/{id:tenant_id}/campaigns/{id:campaign_id}",
    response={200: CampaignOut, 403: DetailOut, 404: DetailOut},
    summary="One campaign with its checklist and progress",
)
def get_campaign(request: HttpRequest, tenant_id: int, campaign_id: int) -> CampaignOut:
    with tenant_scope(request, tenant_id, Action.CAMPAIGN_VIEW) as tenant:
        return campaign_out(selectors.campaign_get(tenant=tenant, pk=campaign_id))


@router.patch(
    "/{id:tenant_id}/campaigns/{id:campaign_id}",
    response={200: CampaignOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Change a campaign draft (only the fields given)",
)
def update_campaign(
    request: HttpRequest, tenant_id: int, campaign_id: int, payload: CampaignPatch
) -> CampaignOut:
    with tenant_scope(request, tenant_id, Action.CAMPAIGN_EDIT) as tenant:
        campaign = selectors.campaign_get(tenant=tenant, pk=campaign_id)
        given = payload.dict(exclude_unset=True)
        with errors_renamed(REQUEST_NAMES):
            updated = services.campaign_update(
                actor=actor_of(request), tenant=tenant, campaign=campaign, **_values(given)
            )
        return campaign_out(updated)


class SendIn(Input):
    at: datetime | None = None  # a time in the future schedules the send


@router.post(
    "/{id:tenant_id}/campaigns/{id:campaign_id}/send",
    response={202: CampaignOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Send the campaign now or at a time (409 with the unmet checklist items)",
)
def send_campaign(
    request: HttpRequest, tenant_id: int, campaign_id: int, payload: SendIn | None = None
) -> Status[CampaignOut]:
    with tenant_scope(request, tenant_id, Action.CAMPAIGN_EDIT) as tenant:
        campaign = selectors.campaign_get(tenant=tenant, pk=campaign_id)
        sent = services.campaign_send(
            actor=actor_of(request),
            tenant=tenant,
            campaign=campaign,
            at=payload.at if payload else None,
        )
        return Status(202, campaign_out(sent))


# The sending controls of the campaign page; each answers 409 when the campaign's status does
# not allow it.
CONTROLS: dict[str, tuple[Callable[..., Campaign], str]] = {
    "pause": (
        services.campaign_pause,
        "Pause a sending or scheduled campaign (between two messages)",
    ),
    "resume": (
        services.campaign_resume,
        "Resume a paused campaign (recipients already sent are skipped)",
    ),
    "cancel": (services.campaign_cancel, "Cancel a scheduled, sending or paused campaign"),
    "unschedule": (services.campaign_unschedule, "Turn a scheduled campaign back into a draft"),
}


def _add_control(action: str, service: Callable[..., Campaign], summary: str) -> None:
    def control(request: HttpRequest, tenant_id: int, campaign_id: int) -> CampaignOut:
        with tenant_scope(request, tenant_id, Action.CAMPAIGN_EDIT) as tenant:
            campaign = selectors.campaign_get(tenant=tenant, pk=campaign_id)
            changed = service(actor=actor_of(request), tenant=tenant, campaign=campaign)
            return campaign_out(changed)

    # ninja names the operation (and its URL) after the function: api:pause_campaign, …
    control.__name__ = control.__qualname__ = f"{action}_campaign"
    router.post(
        f"/{{id:tenant_id}}/campaigns/{{id:campaign_id}}/{action}",
        response={200: CampaignOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
        summary=summary,
    )(control)


for _action, (_service, _summary) in CONTROLS.items():
    _add_control(_action, _service, _summary)

"""Sending readiness and sending domains: ``/api/v1/tenants/{id}/readiness``,
``/api/v1/tenants/{id}/sending-domains``.

Every handler opens the tenant's django-scopes scope itself."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django_scopes import scope
from ninja import Router, Schema
from ninja.responses import Status

from mandant.accounts.roles import Action, role_allows
from mandant.api.auth import actor_of
from mandant.api.inputs import Input
from mandant.core.errors import PermissionDenied
from mandant.sending import selectors, services
from mandant.sending.models import SendingDomain
from mandant.sending.readiness import is_ready, tenant_readiness
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import tenant_get_for_actor

router = Router(tags=["sending"])


class CheckOut(Schema):
    key: str
    label: str
    ok: bool
    hint: str
    fix_url: str


class ReadinessOut(Schema):
    ready: bool
    checks: list[CheckOut]


class DnsRecordOut(Schema):
    key: str
    type: str
    name: str
    value: str
    result: str | None
    found: list[str]


class SendingDomainOut(Schema):
    id: int
    domain: str
    status: str
    dkim_selector: str
    verified_without_dns: bool
    checked_at: datetime | None
    verified_at: datetime | None
    records: list[DnsRecordOut]

    @staticmethod
    def from_domain(row: SendingDomain) -> "SendingDomainOut":
        records = []
        for record in selectors.domain_records(row):
            result = row.check_results.get(record.key) or {}
            records.append(
                DnsRecordOut(
                    key=record.key,
                    type=record.type,
                    name=record.name,
                    value=record.value,
                    result=result.get("status"),
                    found=list(result.get("found") or []),
                )
            )
        return SendingDomainOut(
            id=row.pk,
            domain=row.domain,
            status=row.status,
            dkim_selector=row.dkim_selector,
            verified_without_dns=row.verified_without_dns,
            checked_at=row.checked_at,
            verified_at=row.verified_at,
            records=records,
        )


class DomainIn(Input):
    domain: str


@contextmanager
def tenant_scope(request: HttpRequest, tenant_id: int, action: Action) -> Iterator[Tenant]:
    """The tenant in the path within the key's reach (else 404), ``action`` allowed (else 403),
    its scope active."""
    actor = actor_of(request)
    tenant, grant = tenant_get_for_actor(actor, pk=tenant_id)
    if not role_allows(grant.role, action):
        raise PermissionDenied(_("Your role does not allow this."))
    with scope(tenant=tenant.pk):
        yield tenant


@router.get(
    "/{id:tenant_id}/readiness",
    response=ReadinessOut,
    summary="Whether the tenant is ready to send, with the checklist",
)
def readiness(request: HttpRequest, tenant_id: int) -> ReadinessOut:
    with tenant_scope(request, tenant_id, Action.TENANT_VIEW) as tenant:
        checks = tenant_readiness(tenant)
    return ReadinessOut(
        ready=is_ready(checks), checks=[CheckOut(**check._asdict()) for check in checks]
    )


@router.get(
    "/{id:tenant_id}/sending-domains",
    response=list[SendingDomainOut],
    summary="The tenant's sending domains with the DNS records to publish",
)
def list_sending_domains(request: HttpRequest, tenant_id: int) -> list[SendingDomainOut]:
    with tenant_scope(request, tenant_id, Action.SENDING_VIEW) as tenant:
        return [SendingDomainOut.from_domain(row) for row in selectors.domain_list(tenant)]


@router.post(
    "/{id:tenant_id}/sending-domains",
    response={201: SendingDomainOut},
    summary="Add a sending domain (a DKIM key pair is generated)",
)
def add_sending_domain(request: HttpRequest, tenant_id: int, payload: DomainIn) -> Status:
    with tenant_scope(request, tenant_id, Action.SENDING_MANAGE) as tenant:
        row = services.domain_add(actor=actor_of(request), tenant=tenant, domain=payload.domain)
        return Status(201, SendingDomainOut.from_domain(row))


@router.post(
    "/{id:tenant_id}/sending-domains/{id:domain_id}/check",
    response=SendingDomainOut,
    summary="Check the domain's SPF, DKIM and DMARC records now",
)
def check_sending_domain(request: HttpRequest, tenant_id: int, domain_id: int) -> SendingDomainOut:
    with tenant_scope(request, tenant_id, Action.SENDING_MANAGE) as tenant:
        row = selectors.domain_get(tenant, domain_id)
        row = services.domain_check(actor=actor_of(request), tenant=tenant, sending_domain=row)
        return SendingDomainOut.from_domain(row)

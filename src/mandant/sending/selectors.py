"""Reads about sending, always inside one tenant (an id of another tenant is NotFound)."""

from django.db.models import QuerySet

from mandant.core.errors import NotFound
from mandant.sending.dns_checks import DnsRecord, required_records
from mandant.sending.models import (
    DomainStatus,
    SenderIdentity,
    SenderPostalAddress,
    SendingDomain,
)
from mandant.tenants.models import Tenant


def domain_list(tenant: Tenant) -> QuerySet[SendingDomain]:
    return SendingDomain.objects.filter(tenant=tenant).order_by("domain")


def domain_get(tenant: Tenant, domain_id: int) -> SendingDomain:
    row = SendingDomain.objects.filter(tenant=tenant, pk=domain_id).first()
    if row is None:
        raise NotFound
    return row


def domain_records(domain: SendingDomain) -> list[DnsRecord]:
    """The DNS records to publish for the domain."""
    return required_records(domain.domain, domain.dkim_selector, domain.dkim_public_key)


def has_verified_domain(tenant: Tenant) -> bool:
    return SendingDomain.objects.filter(tenant=tenant, status=DomainStatus.VERIFIED).exists()


def signing_domain_for(tenant: Tenant, from_address: str) -> SendingDomain | None:
    """The verified domain whose key signs mail from ``from_address`` (for the pipeline)."""
    domain = from_address.rpartition("@")[2].lower()
    return SendingDomain.objects.filter(
        tenant=tenant, domain=domain, status=DomainStatus.VERIFIED
    ).first()


def identity_list(tenant: Tenant) -> QuerySet[SenderIdentity]:
    return SenderIdentity.objects.filter(tenant=tenant).order_by("from_address")


def identity_get(tenant: Tenant, identity_id: int) -> SenderIdentity:
    row = SenderIdentity.objects.filter(tenant=tenant, pk=identity_id).first()
    if row is None:
        raise NotFound
    return row


def postal_address_get(tenant: Tenant) -> SenderPostalAddress | None:
    return SenderPostalAddress.objects.filter(tenant=tenant).first()

"""Every read of contacts, lists and segments used by views, the API and the pipeline."""

from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled

from mandant.accounts.roles import Action, role_allows
from mandant.contacts.models import (
    ConsentRecord,
    Contact,
    ContactList,
    ContactStatus,
    ImportFile,
    ListMembership,
    Segment,
    SignupForm,
)
from mandant.contacts.normalize import normalize_email
from mandant.contacts.segments import apply_rules
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.ids import as_pk
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import effective_grant


def contact_grant(actor: Actor, tenant: Tenant, action: Action) -> RoleGrant:
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, action):
        raise PermissionDenied(_("Your role does not allow this."))
    return grant


def contact_get(*, tenant: Tenant, pk: Any) -> Contact:
    contact = Contact.objects.filter(tenant=tenant, pk=as_pk(pk)).first()
    if contact is None:
        raise NotFound
    return contact


def list_get(*, tenant: Tenant, pk: Any) -> ContactList:
    found = ContactList.objects.filter(tenant=tenant, pk=as_pk(pk)).first()
    if found is None:
        raise NotFound
    return found


def segment_get(*, tenant: Tenant, pk: Any) -> Segment:
    found = Segment.objects.filter(tenant=tenant, pk=as_pk(pk)).first()
    if found is None:
        raise NotFound
    return found


def contact_by_email(*, tenant: Tenant, email: str) -> Contact | None:
    try:
        normalized = normalize_email(email)
    except ValidationError:
        return None
    return Contact.objects.filter(tenant=tenant, email=normalized).first()


def contact_search(*, tenant: Tenant, q: str = "", status: str = "") -> QuerySet[Contact]:
    queryset = Contact.objects.filter(tenant=tenant)
    if q:
        queryset = queryset.filter(
            Q(email__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q)
        )
    if status:
        # An unknown status finds nobody (as the tenant list does), rather than everybody.
        queryset = queryset.filter(status=status)
    return queryset.order_by("email")


def lists_of_tenant(*, tenant: Tenant) -> QuerySet[ContactList]:
    return ContactList.objects.filter(tenant=tenant).order_by("name")


def segments_of_tenant(*, tenant: Tenant) -> QuerySet[Segment]:
    return Segment.objects.filter(tenant=tenant).order_by("name")


def import_upload_get(*, tenant: Tenant, pk: Any) -> ImportFile | None:
    """A CSV file kept for the import wizard (until CONTACT_IMPORT_KEEP_DAYS), or None."""
    return ImportFile.objects.filter(tenant=tenant, pk=as_pk(pk)).first()


def lists_of_contact(*, tenant: Tenant, contact: Contact) -> QuerySet[ContactList]:
    """The lists the contact is on, by name."""
    on = ListMembership.objects.filter(tenant=tenant, contact=contact).values("contact_list_id")
    return ContactList.objects.filter(tenant=tenant, pk__in=on).order_by("name")


def list_members(*, tenant: Tenant, contact_list: ContactList) -> QuerySet[Contact]:
    members = ListMembership.objects.filter(tenant=tenant, contact_list=contact_list).values(
        "contact_id"
    )
    return Contact.objects.filter(tenant=tenant, pk__in=members).order_by("email")


def segment_contacts(*, tenant: Tenant, segment: Segment) -> QuerySet[Contact]:
    return apply_rules(tenant, Contact.objects.filter(tenant=tenant), segment.rules)


def unknown_custom_fields(*, tenant: Tenant, rules: dict[str, Any]) -> list[str]:
    """The custom fields a segment's conditions name that no contact of the tenant has (a typo,
    most likely: such a condition matches nobody)."""
    names = [
        c["field"].removeprefix("field:")
        for c in rules.get("conditions", [])
        if c["field"].startswith("field:")
    ]
    contacts = Contact.objects.filter(tenant=tenant)
    return [name for name in names if not contacts.filter(fields__has_key=name).exists()]


def sendable_contacts(
    *, tenant: Tenant, contact_list: ContactList | None = None, segment: Segment | None = None
) -> QuerySet[Contact]:
    """The recipients of a list or segment, ordered by id, for a keyset walk
    (``filter(pk__gt=last)[:n]``). Unsubscribed, bounced, complained and blocked contacts are
    always left out — only ``active`` ones are sendable."""
    queryset = Contact.objects.filter(tenant=tenant, status=ContactStatus.ACTIVE)
    if contact_list is not None:
        if contact_list.tenant_id != tenant.pk:
            raise NotFound
        members = ListMembership.objects.filter(tenant=tenant, contact_list=contact_list).values(
            "contact_id"
        )
        queryset = queryset.filter(pk__in=members)
    if segment is not None:
        if segment.tenant_id != tenant.pk:
            raise NotFound
        queryset = apply_rules(tenant, queryset, segment.rules)
    return queryset.order_by("pk")


def walk_by_id(queryset: QuerySet[Contact], *, batch: int = 1000) -> Iterator[list[Contact]]:
    """Batches of an id-ordered queryset, each one query from the last id seen (keyset)."""
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def signup_forms_of_tenant(*, tenant: Tenant) -> QuerySet[SignupForm]:
    return SignupForm.objects.filter(tenant=tenant).select_related("contact_list").order_by("name")


def signup_form_get(*, tenant: Tenant, pk: Any) -> SignupForm:
    found = SignupForm.objects.filter(tenant=tenant, pk=as_pk(pk)).first()
    if found is None:
        raise NotFound
    return found


def signup_form_by_key(key: str) -> SignupForm | None:
    """The form of a public page (``/f/<key>/``), with its tenant; None when unknown."""
    if not key or len(key) > 40:
        return None
    # The public page knows no tenant yet: the random, platform-unique key is what selects it
    # (and with it the tenant, whose scope the caller then activates).
    with scopes_disabled():
        return SignupForm.objects.select_related("tenant").filter(public_key=key).first()


def consents_of_contact(*, tenant: Tenant, contact: Contact) -> QuerySet[ConsentRecord]:
    """The contact's consent history, newest first."""
    return ConsentRecord.objects.filter(tenant=tenant, contact=contact).order_by("-given_at", "-pk")


def signup_counts(*, tenant: Tenant, forms: list[SignupForm]) -> dict[int, tuple[int, int]]:
    """(pending, confirmed) double opt-in sign-ups per form id, for all ``forms`` in one query
    (a form without any is missing: (0, 0))."""
    rows = (
        ConsentRecord.objects.filter(
            tenant=tenant, form__in=[form.pk for form in forms], double_opt_in=True
        )
        .order_by()
        .values("form_id")
        .annotate(
            pending=Count("pk", filter=Q(confirmed_at__isnull=True)),
            confirmed=Count("pk", filter=Q(confirmed_at__isnull=False)),
        )
    )
    return {row["form_id"]: (row["pending"], row["confirmed"]) for row in rows}

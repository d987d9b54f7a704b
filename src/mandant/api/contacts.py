"""Contacts, lists and the CSV import of a tenant, under ``/api/v1/tenants/{id}/``.

Every handler opens the tenant's scope itself and looks every id up inside that tenant: an id
of another tenant is a 404.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_scopes import scope
from ninja import File, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from pydantic import Field

from mandant.accounts.roles import Action
from mandant.api.auth import actor_of
from mandant.api.inputs import Input, errors_renamed, max_length
from mandant.api.tenants import DetailOut, ErrorOut
from mandant.contacts import importing, selectors, services
from mandant.contacts.models import ConsentSource, Contact, ContactList
from mandant.core.actor import RoleGrant
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import tenant_get_for_actor

router = Router(tags=["contacts"])


class ContactOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    language: str
    fields: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime


class ContactIn(Input):
    email: str
    first_name: str = Field("", max_length=max_length(Contact, "first_name"))
    last_name: str = Field("", max_length=max_length(Contact, "last_name"))
    language: str = Field("", max_length=max_length(Contact, "language"))
    fields: dict[str, str] = Field(default_factory=dict)


class ContactPageOut(Schema):
    items: list[ContactOut]
    total: int
    page: int
    page_size: int


class ContactListQuery(Schema):
    q: str = ""
    status: str = ""
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=500)


class ListOut(Schema):
    id: int
    name: str
    members: int


class ListIn(Input):
    name: str = Field(max_length=max_length(ContactList, "name"))


class JobStartedOut(Schema):
    id: int
    status: str
    url: str


@contextmanager
def tenant_scope(
    request: HttpRequest, tenant_id: int, action: Action
) -> Iterator[tuple[Tenant, RoleGrant]]:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    with scope(tenant=tenant.pk):
        grant = selectors.contact_grant(actor, tenant, action)
        yield tenant, grant


def contact_out(contact: Contact) -> ContactOut:
    return ContactOut.from_orm(contact)


def list_out(tenant: Tenant, contact_list: ContactList) -> ListOut:
    members = selectors.list_members(tenant=tenant, contact_list=contact_list).count()
    return ListOut(id=contact_list.pk, name=contact_list.name, members=members)


@router.get(
    "/{id:tenant_id}/contacts",
    response={200: ContactPageOut, 403: DetailOut, 404: DetailOut},
    summary="The tenant's contacts (search by q, filter by status)",
)
def list_contacts(
    request: HttpRequest, tenant_id: int, filters: Query[ContactListQuery]
) -> ContactPageOut:
    with tenant_scope(request, tenant_id, Action.CONTACT_VIEW) as (tenant, _grant):
        queryset = selectors.contact_search(tenant=tenant, q=filters.q, status=filters.status)
        start = (filters.page - 1) * filters.page_size
        items = list(queryset[start : start + filters.page_size])
        return ContactPageOut(
            items=[contact_out(c) for c in items],
            total=queryset.count(),
            page=filters.page,
            page_size=filters.page_size,
        )


@router.post(
    "/{id:tenant_id}/contacts",
    response={201: ContactOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Create a contact (consent source: api)",
)
def create_contact(request: HttpRequest, tenant_id: int, payload: ContactIn) -> Status[ContactOut]:
    with tenant_scope(request, tenant_id, Action.CONTACT_EDIT) as (tenant, _grant):
        contact = services.contact_create(
            actor=actor_of(request),
            tenant=tenant,
            email=payload.email,
            first_name=payload.first_name,
            last_name=payload.last_name,
            language=payload.language,
            fields=payload.fields,
            consent_source=ConsentSource.API,
            consent_ip=request.META.get("REMOTE_ADDR"),
        )
        return Status(201, contact_out(contact))


@router.get(
    "/{id:tenant_id}/lists",
    response={200: list[ListOut], 403: DetailOut, 404: DetailOut},
    summary="The tenant's lists with their member counts",
)
def list_lists(request: HttpRequest, tenant_id: int) -> list[ListOut]:
    with tenant_scope(request, tenant_id, Action.CONTACT_VIEW) as (tenant, _grant):
        return [list_out(tenant, cl) for cl in selectors.lists_of_tenant(tenant=tenant)]


@router.post(
    "/{id:tenant_id}/lists",
    response={201: ListOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Create a list",
)
def create_list(request: HttpRequest, tenant_id: int, payload: ListIn) -> Status[ListOut]:
    with tenant_scope(request, tenant_id, Action.CONTACT_EDIT) as (tenant, _grant):
        created = services.list_create(actor=actor_of(request), tenant=tenant, name=payload.name)
        return Status(201, list_out(tenant, created))


@router.post(
    "/{id:tenant_id}/contacts/import",
    response={202: JobStartedOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Import a CSV file (header: email, first_name, last_name, language, others as "
    "custom fields); all-or-nothing unless keep_valid. Poll the job in Location.",
)
def import_contacts(
    request: HttpRequest,
    response: HttpResponse,
    tenant_id: int,
    file: File[UploadedFile],
    keep_valid: bool = False,
    list_id: int | None = None,
) -> Status[JobStartedOut]:
    # One transaction: a file the import refuses (no e-mail column, …) is not kept.
    with (
        tenant_scope(request, tenant_id, Action.CONTACT_IMPORT) as (tenant, grant),
        transaction.atomic(),
    ):
        upload = importing.upload_create(tenant=tenant, name=file.name or "", data=file)
        header, _preview = importing.header_and_preview(upload)
        # The API maps the columns by their header names: a missing one is the file's fault.
        with errors_renamed({"mapping": "file"}):
            job = importing.import_start(
                actor=actor_of(request),
                tenant=tenant,
                grant=grant,
                upload=upload,
                mapping=importing.guess_mapping(header),
                keep_valid=keep_valid,
                list_id=list_id,
            )
    url = reverse("api:get_job", kwargs={"job_id": job.pk})
    response["Location"] = url
    return Status(202, JobStartedOut(id=job.pk, status=job.status, url=url))


# After …/contacts/import: ninja matches paths in the order they are declared.
@router.get(
    "/{id:tenant_id}/contacts/{id:contact_id}",
    response={200: ContactOut, 403: DetailOut, 404: DetailOut},
    summary="One contact",
)
def get_contact(request: HttpRequest, tenant_id: int, contact_id: int) -> ContactOut:
    with tenant_scope(request, tenant_id, Action.CONTACT_VIEW) as (tenant, _grant):
        return contact_out(selectors.contact_get(tenant=tenant, pk=contact_id))

from datetime import datetime

from django.http import HttpRequest
from django.urls import reverse
from ninja import File, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status
from pydantic import Field

from mandant.api.auth import actor_of
from mandant.api.inputs import Input
from mandant.tenants import services
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import tenant_get_for_actor, tenant_list

router = Router(tags=["tenants"])


class TenantOut(Schema):
    id: int
    name: str
    slug: str
    type: str
    version: str
    master_id: int | None
    depth: int
    child_count: int
    charset: str
    status: str
    configured: bool
    logo_url: str | None
    created_at: datetime

    @staticmethod
    def from_tenant(tenant: Tenant) -> "TenantOut":
        return TenantOut(
            id=tenant.pk,
            name=tenant.name,
            slug=tenant.slug,
            type=tenant.type,
            version=tenant.version,
            master_id=tenant.parent_id,
            depth=tenant.depth,
            child_count=tenant.child_count,
            charset=tenant.charset,
            status=tenant.status,
            configured=tenant.configured_at is not None,
            logo_url=(
                reverse("tenants:logo", args=[tenant.slug]) + f"?v={tenant.logo_version}"
                if tenant.has_logo
                else None
            ),
            created_at=tenant.created_at,
        )


class TenantPageOut(Schema):
    items: list[TenantOut]
    total: int
    page: int
    page_size: int


class TenantListQuery(Schema):
    q: str = ""
    type: str = ""
    version: str = ""
    status: str = ""
    parent: int | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=200)


class TenantCreateIn(Input):
    name: str
    type: str = "STANDARD"
    version: str = "BASIC"
    master_id: int | None = None
    charset: str | None = None


class TenantPatchIn(Input):
    name: str | None = None
    version: str | None = None
    charset: str | None = None


class ErrorOut(Schema):
    errors: dict[str, list[str]]


class DetailOut(Schema):
    detail: str


def _key_tenant(request: HttpRequest) -> Tenant:
    key = actor_of(request).api_key
    assert key is not None
    return key.tenant


@router.get("", response=TenantPageOut, summary="List tenants in the key's subtree")
def list_tenants(request: HttpRequest, filters: Query[TenantListQuery]) -> TenantPageOut:
    actor = actor_of(request)
    root = _key_tenant(request)
    if filters.parent is not None:
        tenant_get_for_actor(actor, pk=filters.parent)
    page = tenant_list(
        root=root,
        page=filters.page,
        page_size=filters.page_size,
        q=filters.q,
        type=filters.type,
        version=filters.version,
        status=filters.status,
        parent_id=filters.parent,
    )
    return TenantPageOut(
        items=[TenantOut.from_tenant(t) for t in page.tenants],
        total=page.total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "",
    response={201: TenantOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Create a tenant",
)
def create_tenant(request: HttpRequest, payload: TenantCreateIn) -> Status[TenantOut]:
    actor = actor_of(request)
    master_id = payload.master_id if payload.master_id is not None else _key_tenant(request).pk
    master, _grant = tenant_get_for_actor(actor, pk=master_id)
    tenant = services.tenant_create(
        actor=actor,
        name=payload.name,
        type=payload.type,
        version=payload.version,
        master=master,
        charset=payload.charset,
    )
    return Status(201, TenantOut.from_tenant(tenant))


@router.get("/{id:tenant_id}", response={200: TenantOut, 404: DetailOut}, summary="Get a tenant")
def get_tenant(request: HttpRequest, tenant_id: int) -> TenantOut:
    tenant, _grant = tenant_get_for_actor(actor_of(request), pk=tenant_id)
    return TenantOut.from_tenant(tenant)


@router.patch(
    "/{id:tenant_id}",
    response={200: TenantOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Change name, version or charset",
)
def patch_tenant(request: HttpRequest, tenant_id: int, payload: TenantPatchIn) -> TenantOut:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    updated = services.tenant_update(
        actor=actor,
        tenant=tenant,
        name=payload.name,
        version=payload.version,
        charset=payload.charset,
    )
    return TenantOut.from_tenant(updated)


@router.put(
    "/{id:tenant_id}/logo",
    response={200: TenantOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Upload the tenant's logo (multipart field `logo`)",
)
def put_logo(request: HttpRequest, tenant_id: int, logo: File[UploadedFile]) -> TenantOut:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    updated = services.tenant_set_logo(
        actor=actor,
        tenant=tenant,
        logo=services.LogoUpload.from_file(logo),
    )
    return TenantOut.from_tenant(updated)

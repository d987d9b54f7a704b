"""Users of a tenant, administrators and the hand-over, under ``/api/v1/tenants/{id}/``."""

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.responses import Status

from mandant.accounts import services
from mandant.accounts.models import User
from mandant.accounts.roles import Role
from mandant.accounts.selectors import (
    UserRow,
    tenant_inherited_user_rows,
    tenant_user_row,
    tenant_user_rows,
)
from mandant.api.auth import actor_of
from mandant.api.inputs import Input, max_length
from mandant.api.tenants import DetailOut, ErrorOut, TenantOut
from mandant.core.errors import NotFound
from mandant.tenants import services as tenant_services
from mandant.tenants.selectors import tenant_get_for_actor

router = Router(tags=["users"])


class InheritedFromOut(Schema):
    id: int
    name: str


class UserOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    language: str
    role: int
    role_label: str
    status: str
    second_factor: bool | None
    email_verified: bool
    email_undeliverable: bool
    last_login: datetime | None
    invitation_expires_at: datetime | None
    inherited_from: InheritedFromOut | None

    @staticmethod
    def from_row(row: UserRow) -> "UserOut":
        user = row.user
        return UserOut(
            id=user.pk,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            language=user.language,
            role=row.role,
            role_label=row.role_label,
            status=row.status,
            second_factor=row.second_factor,
            email_verified=user.email_verified_at is not None,
            email_undeliverable=row.undeliverable,
            last_login=user.last_login,
            invitation_expires_at=row.invitation_expires_at,
            inherited_from=(
                InheritedFromOut(id=row.inherited_from.pk, name=row.inherited_from.name)
                if row.inherited_from is not None
                else None
            ),
        )


class UserListOut(Schema):
    items: list[UserOut]
    inherited: list[UserOut]


class UserAddOut(Schema):
    user: UserOut
    outcome: str
    warnings: list[str]


class UserChangeOut(Schema):
    user: UserOut
    warnings: list[str]


class AdministratorIn(Input):
    email: str
    first_name: str = Field("", max_length=max_length(User, "first_name"))
    last_name: str = Field("", max_length=max_length(User, "last_name"))
    language: str = "en"
    method: str = services.HandOverMethod.INVITATION
    password: str | None = None


class UserIn(AdministratorIn):
    role: int = Role.EDITOR


class UserPatchIn(Input):
    role: int | None = None
    active: bool | None = None


class ResendOut(Schema):
    sent: str


def _row(tenant_id: int, user_id: int, request: HttpRequest) -> UserOut:
    tenant, _grant = tenant_get_for_actor(actor_of(request), pk=tenant_id)
    row = tenant_user_row(tenant=tenant, user_id=user_id)
    if row is None:
        raise NotFound
    return UserOut.from_row(row)


@router.get(
    "/{id:tenant_id}/users",
    response={200: UserListOut, 404: DetailOut},
    summary="The tenant's users, and those acting there through a master tenant",
)
def list_users(request: HttpRequest, tenant_id: int) -> UserListOut:
    tenant, _grant = tenant_get_for_actor(actor_of(request), pk=tenant_id)
    return UserListOut(
        items=[UserOut.from_row(row) for row in tenant_user_rows(tenant=tenant)],
        inherited=[UserOut.from_row(row) for row in tenant_inherited_user_rows(tenant=tenant)],
    )


def _add(
    request: HttpRequest, tenant_id: int, payload: AdministratorIn, role: int
) -> Status[UserAddOut]:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    result = services.user_add(
        actor=actor,
        tenant=tenant,
        email=payload.email,
        first_name=payload.first_name,
        last_name=payload.last_name,
        language=payload.language,
        role=role,
        method=payload.method,
        password=payload.password,
    )
    row = tenant_user_row(tenant=tenant, user_id=result.user.pk)
    assert row is not None
    return Status(
        201,
        UserAddOut(user=UserOut.from_row(row), outcome=result.outcome, warnings=result.warnings),
    )


@router.post(
    "/{id:tenant_id}/users",
    response={201: UserAddOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Invite a user (or add an existing one)",
)
def add_user(request: HttpRequest, tenant_id: int, payload: UserIn) -> Status[UserAddOut]:
    return _add(request, tenant_id, payload, payload.role)


@router.post(
    "/{id:tenant_id}/administrators",
    response={201: UserAddOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Create an administrator: by invitation (default) or with an initial password",
)
def add_administrator(
    request: HttpRequest, tenant_id: int, payload: AdministratorIn
) -> Status[UserAddOut]:
    return _add(request, tenant_id, payload, Role.ADMINISTRATOR)


@router.patch(
    "/{id:tenant_id}/users/{id:user_id}",
    response={200: UserChangeOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Change the role, deactivate (active=false) or reactivate (active=true)",
)
def patch_user(
    request: HttpRequest, tenant_id: int, user_id: int, payload: UserPatchIn
) -> UserChangeOut:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    if tenant_user_row(tenant=tenant, user_id=user_id) is None:
        raise NotFound
    warnings = services.membership_update(
        actor=actor, tenant=tenant, user_id=user_id, role=payload.role, active=payload.active
    )
    return UserChangeOut(user=_row(tenant_id, user_id, request), warnings=warnings)


@router.delete(
    "/{id:tenant_id}/users/{id:user_id}",
    response={204: None, 403: DetailOut, 404: DetailOut, 409: ErrorOut},
    summary="Remove the user from the tenant (their other tenants stay)",
)
def delete_user(request: HttpRequest, tenant_id: int, user_id: int) -> HttpResponse:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    services.membership_remove(actor=actor, tenant=tenant, user_id=user_id)
    return HttpResponse(status=204)


@router.post(
    "/{id:tenant_id}/users/{id:user_id}/resend",
    response={200: ResendOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut},
    summary="Send the invitation (or the address confirmation link) again",
)
def resend(request: HttpRequest, tenant_id: int, user_id: int) -> ResendOut:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    return ResendOut(sent=services.user_resend(actor=actor, tenant=tenant, user_id=user_id))


@router.post(
    "/{id:tenant_id}/handover",
    response={200: TenantOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut},
    summary="Hand the tenant over to the customer (409 lists the unmet conditions)",
)
def handover(request: HttpRequest, tenant_id: int) -> TenantOut:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    return TenantOut.from_tenant(tenant_services.tenant_hand_over(actor=actor, tenant=tenant))

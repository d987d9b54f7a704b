import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mandant.accounts.models import ApiKey, Invitation, LoginFailure, Membership, User
from mandant.accounts.roles import Role
from mandant.core.ids import as_pk
from mandant.tenants.models import Tenant


def tenant_members(*, tenant: Tenant) -> QuerySet[Membership]:
    """Users with a membership directly on the tenant."""
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")


def tenant_inherited_members(*, tenant: Tenant) -> QuerySet[Membership]:
    """Users who act here through an (active) membership on an ancestor."""
    ancestors = tenant.ancestor_paths()[:-1]
    return (
        Membership.objects.filter(
            tenant__path__in=ancestors, deactivated_at__isnull=True, user__is_active=True
        )
        .select_related("user", "tenant")
        .defer("tenant__logo_png")
        .order_by("-tenant__depth", "user__email")
    )


def tenant_member(*, tenant: Tenant, user_id: int) -> Membership | None:
    return (
        Membership.objects.filter(tenant=tenant, user_id=as_pk(user_id))
        .select_related("user")
        .first()
    )


def tenant_api_keys(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).select_related("created_by").order_by("-created_at")


def tenant_api_key(*, tenant: Tenant, key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(pk=key_id, tenant=tenant).select_related("tenant").first()


# --- Setup → Users ---------------------------------------------------------------------------


class UserStatus:
    INVITED = "invited"
    ACTIVE = "active"
    LOCKED = "locked"
    DEACTIVATED = "deactivated"

    LABELS = {
        INVITED: _("invited"),
        ACTIVE: _("active"),
        LOCKED: _("locked"),
        DEACTIVATED: _("deactivated"),
    }


@dataclass
class UserRow:
    """One line of Setup → Users: a membership with what the page and the API show of it."""

    membership: Membership
    user: User
    role: int
    role_label: str
    status: str
    status_label: str
    second_factor: bool | None  # None: unknown (second factors not installed)
    undeliverable: bool
    invitation_expires_at: datetime | None
    invitation_expired: bool
    inherited_from: Tenant | None = None

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMINISTRATOR

    @property
    def has_invitation(self) -> bool:
        return self.invitation_expires_at is not None

    @property
    def can_resend(self) -> bool:
        """An invitation (no password yet) or the confirmation link (address not proven)."""
        if self.status == UserStatus.DEACTIVATED or self.inherited_from is not None:
            return False
        return not self.user.has_usable_password() or self.user.email_verified_at is None


def _second_factor_users(user_ids: list[int]) -> set[int] | None:
    """Ids of the users with a confirmed second factor, or None without django-otp."""
    if not apps.is_installed("django_otp"):
        return None
    try:
        from django_otp.models import Device
    except ImportError:  # pragma: no cover - django-otp is a dependency
        return None
    # What django_otp.user_has_device(user) asks, for all users at once: a confirmed device
    # of any installed device type.
    found: set[int] = set()
    for model in apps.get_models():
        if issubclass(model, Device):
            found.update(
                model._default_manager.filter(user_id__in=user_ids, confirmed=True).values_list(
                    "user_id", flat=True
                )
            )
    return found


def _status(membership: Membership, *, locked: bool) -> str:
    user = membership.user
    if membership.deactivated_at is not None or not user.is_active:
        return UserStatus.DEACTIVATED
    if locked:
        return UserStatus.LOCKED
    if not user.has_usable_password():
        # Cannot sign in before following an invitation (``pending``: the open one, if any).
        return UserStatus.INVITED
    return UserStatus.ACTIVE


def _rows(memberships: list[Membership], tenant: Tenant, *, inherited: bool) -> list[UserRow]:
    users = [m.user for m in memberships]
    now = timezone.now()
    blocked = set(
        LoginFailure.objects.filter(
            email_key__in=[u.email.lower() for u in users], blocked_until__gt=now
        ).values_list("email_key", flat=True)
    )
    second = _second_factor_users([u.pk for u in users])
    pending: dict[int, Invitation] = {}
    if not inherited:
        for open_invitation in Invitation.objects.filter(
            tenant=tenant, user__in=users, used_at__isnull=True, revoked_at__isnull=True
        ).order_by("created_at"):
            pending[open_invitation.user_id] = open_invitation  # the newest wins
    rows = []
    for m in memberships:
        invitation = pending.get(m.user_id)
        status = _status(m, locked=m.user.email.lower() in blocked)
        rows.append(
            UserRow(
                membership=m,
                user=m.user,
                role=m.role,
                role_label=str(Role(m.role).label),
                status=status,
                status_label=str(UserStatus.LABELS[status]),
                second_factor=None if second is None else m.user_id in second,
                undeliverable=m.user.email_undeliverable_at is not None,
                invitation_expires_at=invitation.expires_at if invitation else None,
                invitation_expired=bool(invitation and invitation.expires_at <= now),
                inherited_from=m.tenant if inherited else None,
            )
        )
    return rows


def tenant_user_rows(*, tenant: Tenant) -> list[UserRow]:
    """The tenant's own users (membership on the tenant), with status."""
    return _rows(list(tenant_members(tenant=tenant)), tenant, inherited=False)


def tenant_inherited_user_rows(*, tenant: Tenant) -> list[UserRow]:
    """Users acting here through a role inherited from a master tenant (nearest first).

    A user with a membership on the tenant itself is listed there only; of several
    inherited memberships of one user, the nearest applies.
    """
    own = set(Membership.objects.filter(tenant=tenant).values_list("user_id", flat=True))
    seen: set[int] = set()
    memberships = []
    for m in tenant_inherited_members(tenant=tenant):
        if m.user_id in own or m.user_id in seen:
            continue
        seen.add(m.user_id)
        memberships.append(m)
    return _rows(memberships, tenant, inherited=True)


def tenant_user_row(*, tenant: Tenant, user_id: int) -> UserRow | None:
    membership = tenant_member(tenant=tenant, user_id=user_id)
    if membership is None:
        return None
    return _rows([membership], tenant, inherited=False)[0]


def tenant_active_administrator_count(*, tenant: Tenant) -> int:
    return Membership.objects.filter(
        tenant=tenant, role=Role.ADMINISTRATOR, deactivated_at__isnull=True, user__is_active=True
    ).count()


# --- invitations -----------------------------------------------------------------------------


def invitation_token_hash(raw: str) -> str:
    """Only this hash is stored. The token has 256 bits of randomness: SHA-256 is enough."""
    return hashlib.sha256(raw.encode()).hexdigest()


class InvitationProblem(Exception):
    """An invitation link that cannot be used: ``unknown``, ``expired``, ``used``, ``revoked``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def invitation_for_token(token: str, *, for_update: bool = False) -> Invitation:
    """The usable invitation for a raw token, or InvitationProblem."""
    if not token or len(token) > 200:
        raise InvitationProblem("unknown")
    qs = Invitation.objects.select_related("user", "tenant", "tenant__parent").defer(
        "tenant__logo_png", "tenant__parent__logo_png"
    )
    if for_update:
        qs = qs.select_for_update(of=("self",))
    invitation = qs.filter(token_hash=invitation_token_hash(token)).first()
    if invitation is None:
        raise InvitationProblem("unknown")
    if invitation.used_at is not None:
        raise InvitationProblem("used")
    if invitation.revoked_at is not None or not invitation.user.is_active:
        raise InvitationProblem("revoked")
    membership = Membership.objects.filter(
        tenant=invitation.tenant, user=invitation.user, deactivated_at__isnull=True
    ).exists()
    if not membership:
        raise InvitationProblem("revoked")
    if invitation.expires_at <= timezone.now():
        raise InvitationProblem("expired")
    return invitation


def active_user_by_id(user_id: int) -> User | None:
    """An active user by id (the pending second sign-in step keeps only the id)."""
    return User.objects.filter(pk=user_id, is_active=True).first()

"""Who is acting: a user, possibly through an API key, and the role they act with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mandant.accounts.models import ApiKey, User
    from mandant.tenants.models import Tenant


@dataclass(frozen=True)
class RoleGrant:
    """The role an actor has in a tenant and the tenant whose membership grants it.

    ``source`` is None for operators, whose role does not come from a membership.
    """

    role: int
    source: Tenant | None

    def inherited_for(self, tenant: Tenant) -> bool:
        return self.source is not None and self.source.pk != tenant.pk


@dataclass
class Actor:
    user: User
    api_key: ApiKey | None = None
    # Memo of grants per tenant id for the lifetime of one request.
    _grants: dict[int, RoleGrant | None] = field(default_factory=dict, repr=False)

    @property
    def is_operator(self) -> bool:
        return bool(self.user.is_staff) and self.api_key is None

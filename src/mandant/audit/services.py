from typing import Any

from django.db import models

from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor, RoleGrant


def audit_record(
    *,
    actor: Actor | None,
    action: str,
    tenant: models.Model | None,
    grant: RoleGrant | None = None,
    obj: models.Model | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit row. Call it inside the service's transaction."""
    return AuditEntry.objects.create(
        tenant_id=tenant.pk if tenant is not None else None,
        actor_id=actor.user.pk if actor is not None else None,
        via_api_key_id=actor.api_key.pk if actor is not None and actor.api_key else None,
        acting_role=grant.role if grant is not None else None,
        role_source_id=grant.source.pk if grant is not None and grant.source else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        changes=changes or {},
    )

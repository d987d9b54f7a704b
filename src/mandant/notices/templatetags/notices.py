"""Tenant-page pieces of the notices app: the notice banners and the undeliverable warning."""

from typing import Any

from django import template
from django.utils import translation

from mandant.accounts.roles import Role
from mandant.notices.selectors import active_notices, undeliverable_addresses

register = template.Library()


@register.inclusion_tag("notices/banners.html", takes_context=True)
def notice_banners(context: template.Context) -> dict[str, Any]:
    """Operator notices for the tenant of the page, during their time window (one query)."""
    tenant = context.get("tenant")
    if tenant is None:
        return {"banners": []}
    language = translation.get_language() or "en"
    return {
        "banners": [
            {
                "notice": notice,
                "title": notice.title_for(language),
                "body": notice.body_for(language),
            }
            for notice in active_notices(tenant)
        ]
    }


def sees_undeliverable(grant: Any) -> bool:
    """The tenant's administrators, the partner's staff (Customer Service) and operators."""
    return grant is not None and grant.role <= Role.CUSTOMER_SERVICE


@register.inclusion_tag("notices/undeliverable.html", takes_context=True)
def undeliverable_warning(context: template.Context) -> dict[str, Any]:
    tenant, grant = context.get("tenant"), context.get("grant")
    if tenant is None or not sees_undeliverable(grant):
        return {"rows": []}
    return {"rows": undeliverable_addresses(tenant), "tenant": tenant}

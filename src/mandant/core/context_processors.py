from typing import Any

from django.http import HttpRequest

from mandant.accounts.roles import Role
from mandant.core.web import TemplatePermissions

SETUP_SECTIONS = {
    "setup_users": "users",
    "tenant_management": "upgrades",
    "tenant_created": "upgrades",
    "settings": "tenant",
    "setup_api_keys": "api",
}


def tenant_context(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    grant = getattr(request, "grant", None)
    if tenant is None or grant is None:
        return {}
    return {
        "tenant": tenant,
        "grant": grant,
        "grant_role_label": Role(grant.role).label,
        "grant_inherited": grant.inherited_for(tenant),
        # {% if may.contact_edit %}: whether the role may perform the action here.
        "may": TemplatePermissions(grant, tenant),
        "section": SETUP_SECTIONS.get(getattr(request.resolver_match, "url_name", "") or "", ""),
    }

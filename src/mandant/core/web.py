"""The tenant context of a web request: resolved once, role computed once, scope activated."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.template import TemplateSyntaxError
from django.utils.translation import gettext as _
from django_scopes import scope

from mandant.accounts.roles import BELOW_OWN_TENANT_ONLY, PERMISSIONS, Action, Role, grant_allows
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound
from mandant.tenants.models import Tenant
from mandant.tenants.selectors import tenant_get_for_actor


class TenantRequest(HttpRequest):
    """The request a ``tenant_view`` receives (for type checking; set by the decorator)."""

    tenant: Tenant
    grant: RoleGrant
    actor: Actor


class OperatorRequest(HttpRequest):
    """The request an ``operator_view`` receives."""

    actor: Actor


def actor_for(request: HttpRequest) -> Actor:
    actor = getattr(request, "_mandant_actor", None)
    if actor is None:
        actor = Actor(user=request.user)  # type: ignore[arg-type]
        request._mandant_actor = actor  # type: ignore[attr-defined]
    return actor


def grant_may(grant: RoleGrant, tenant: Tenant, action: Action) -> bool:
    """Whether a role granted for ``tenant`` may perform ``action`` there (``BELOW_OWN_TENANT_ONLY``
    included): the one check behind ``tenant_view``, ``request_may`` and ``may`` in templates."""
    return grant_allows(grant.role, action, inherited=grant.inherited_for(tenant))


def request_may(request: TenantRequest, action: Action) -> bool:
    """For a ``tenant_view``: whether the acting role may perform ``action`` in the tenant."""
    return grant_may(request.grant, request.tenant, action)


def needed_role_message(action: Action) -> str:
    """What the 403 page says: the role ``action`` needs (``docs/roles.md``)."""
    role = PERMISSIONS[action]
    if role == Role.OPERATOR:
        return _("Only our service staff may do this.")
    if action in BELOW_OWN_TENANT_ONLY and role > Role.ADMINISTRATOR:
        text = _("This needs the role %(administrator)s, or %(role)s in a tenant above this one.")
        return text % {"administrator": Role.ADMINISTRATOR.label, "role": Role(role).label}
    return _("This needs at least the role %(role)s.") % {"role": Role(role).label}


def require(request: TenantRequest, action: Action) -> None:
    """For pages a weaker role may open but not submit (a Viewer's POST): 403 naming the role."""
    if not request_may(request, action):
        raise DjangoPermissionDenied(needed_role_message(action))


class TemplatePermissions:
    """``may`` in the templates of tenant pages: ``{% if may.contact_edit %}`` is ``grant_may``
    for ``Action.CONTACT_EDIT``, so a page offers a link or a form only to a role the view behind
    it accepts. An unknown action name is an error, not a silent "no"."""

    def __init__(self, grant: RoleGrant, tenant: Tenant) -> None:
        self._grant = grant
        self._tenant = tenant

    def __getitem__(self, name: str) -> bool:
        try:
            action = Action[name.upper()]
        except KeyError:
            raise TemplateSyntaxError(f"may.{name}: there is no such action") from None
        return grant_may(self._grant, self._tenant, action)


def tenant_view(
    action: Action = Action.TENANT_VIEW,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Resolve ``/t/<slug>/``: 404 outside the user's reach, 403 when the role is too weak
    (naming the role the action needs)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            actor = actor_for(request)
            try:
                tenant, grant = tenant_get_for_actor(actor, slug=slug)
            except NotFound:
                raise Http404 from None
            request.tenant = tenant  # type: ignore[attr-defined]
            request.grant = grant  # type: ignore[attr-defined]
            request.actor = actor  # type: ignore[attr-defined]
            if not grant_may(grant, tenant, action):
                raise DjangoPermissionDenied(needed_role_message(action))
            with scope(tenant=tenant.pk):
                return view(request, *args, **kwargs)

        return wrapper

    return decorator


def operator_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Operator pages: staff only; everyone else gets a 404 (they should not learn of them)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404
        request.actor = actor_for(request)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field where the form has the field,
    otherwise at the top of the form."""
    if hasattr(error, "error_dict"):
        for field, errs in error.error_dict.items():
            target = field if field in form.fields else None
            for err in errs:
                form.add_error(target, err)
    else:
        form.add_error(None, error)

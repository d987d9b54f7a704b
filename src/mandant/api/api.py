"""The public API, v1: django-ninja, OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError

from mandant.api.auth import ApiKeyAuth
from mandant.api.tenants import router as tenants_router
from mandant.core.errors import NotFound, PermissionDenied, is_conflict, messages_by_field

api = NinjaAPI(
    title="Mandant API",
    version="1",
    description="Tenant management for partners. Authenticate with `Authorization: Bearer <key>`.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=ApiKeyAuth(),
)
api.add_router("/tenants", tenants_router)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    status = 409 if is_conflict(exc) else 422
    return api.create_response(request, {"errors": messages_by_field(exc)}, status=status)


@api.exception_handler(NinjaValidationError)
def on_schema_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        field = ".".join(location) or "__all__"
        errors.setdefault(field, []).append(str(error.get("msg", _("Invalid value."))))
    return api.create_response(request, {"errors": errors}, status=422)


@api.exception_handler(NotFound)
def on_not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return api.create_response(request, {"detail": _("Not found.")}, status=404)


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": exc.message}, status=403)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(
        request, {"detail": _("Missing or invalid API key.")}, status=401
    )
    response["WWW-Authenticate"] = "Bearer"
    return response

"""The public API, v1: django-ninja, OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs."""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from mandant.api.auth import ApiKeyAuth
from mandant.api.billing import router as billing_router
from mandant.api.campaigns import router as campaigns_router
from mandant.api.contacts import router as contacts_router
from mandant.api.content import router as content_router
from mandant.api.invoices import router as invoices_router
from mandant.api.jobs import router as jobs_router
from mandant.api.sending import router as sending_router
from mandant.api.signup_forms import router as signup_forms_router
from mandant.api.tenants import router as tenants_router
from mandant.api.users import router as users_router
from mandant.core.errors import NotFound, PermissionDenied, is_conflict, messages_by_field

_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}}
_ERRORS = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }
    },
}
# Answers every operation can give, whatever its own response list says.
_COMMON_RESPONSES = (
    ("401", "Missing or invalid API key", _DETAIL, lambda op, path: bool(op.get("security"))),
    (
        "404",
        "Not found (an id in the path names nothing here)",
        _DETAIL,
        lambda op, path: "{" in path,
    ),
    (
        "422",
        "Invalid input, one list of messages per field",
        _ERRORS,
        lambda op, path: bool(op.get("parameters") or op.get("requestBody")),
    ),
)


class MandantApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        """The spec with the answers the error handlers give on every route: clients (and
        schemathesis) see 401, 404 and 422 documented where they can happen."""
        schema = super().get_openapi_schema(**kwargs)
        for path, path_item in schema["paths"].items():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for status, description, body, applies in _COMMON_RESPONSES:
                    # ninja keys the routes' own responses by int: theirs win.
                    declared = status in responses or int(status) in responses
                    if not declared and applies(operation, path):
                        responses[status] = {
                            "description": description,
                            "content": {"application/json": {"schema": body}},
                        }
        return schema


api = MandantApi(
    title="Mandant API",
    version="1",
    description="Tenant management for partners. Authenticate with `Authorization: Bearer <key>`.",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=ApiKeyAuth(),
)
api.add_router("/tenants", tenants_router)
# Users, administrators and the hand-over of a tenant: /tenants/{id}/users, …
api.add_router("/tenants", users_router)
# The content library and Copy Content: /tenants/{id}/content, /tenants/{id}/copy-content
api.add_router("/tenants", content_router)
# Sending domains, sender identities, the postal address, readiness: /tenants/{id}/readiness, …
api.add_router("/tenants", sending_router)
# Contacts, lists and the CSV import: /tenants/{id}/contacts, /tenants/{id}/lists
api.add_router("/tenants", contacts_router)
# Sign-up forms with double opt-in: /tenants/{id}/signup-forms
api.add_router("/tenants", signup_forms_router)
api.add_router("/tenants", campaigns_router)
api.add_router("/jobs", jobs_router)
# The price list and a tenant's upgrades: /products, /tenants/{id}/upgrades.
api.add_router("", billing_router)
# Invoices of the billing accounts in the key's subtree, and their PDFs.
api.add_router("/invoices", invoices_router)

PARAM_LOCATIONS = frozenset({"query", "path", "file", "form", "body", "header", "cookie"})


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    status = 409 if is_conflict(exc) else 422
    return api.create_response(request, {"errors": messages_by_field(exc)}, status=status)


def schema_error_message(error: dict[str, Any]) -> str:
    """pydantic's messages are English only: translate the kinds a client can trigger."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "missing":
        return _("This field is required.")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("Enter a whole number.")
    if kind in ("string_type",):
        return _("Enter a text.")
    if kind in ("bool_parsing", "bool_type"):
        return _("Enter true or false.")
    if kind == "greater_than_equal":
        return _("Enter a number of at least %(limit)s.") % {"limit": context.get("ge")}
    if kind == "less_than_equal":
        return _("Enter a number of at most %(limit)s.") % {"limit": context.get("le")}
    if kind == "string_too_long":
        return _("Enter at most %(limit)s characters.") % {"limit": context.get("max_length")}
    if kind == "control_characters":
        message = _("Remove the control or invalid characters (%(codes)s): they cannot be stored.")
        return message % {"codes": context.get("codes")}
    if kind in ("literal_error", "enum"):
        return _("Choose one of: %(choices)s.") % {"choices": context.get("expected")}
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return _("Send a JSON object.")
    if kind == "json_invalid":
        return _("The request body is not valid JSON.")
    return _("Invalid value.")


@api.exception_handler(NinjaValidationError)
def on_schema_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ())]
        # ninja reports ("query" | "path" | "file" | "body", param name?, field…): keep the field.
        if location and location[0] in PARAM_LOCATIONS:
            location = location[1:]
        if location and location[0] == "payload":
            location = location[1:]
        field = ".".join(location) or "__all__"
        errors.setdefault(field, []).append(schema_error_message(error))
    return api.create_response(request, {"errors": errors}, status=422)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        # ninja's only 400: a request body it cannot parse (malformed JSON).
        return api.create_response(
            request,
            {"errors": {"__all__": [_("The request body is not valid JSON.")]}},
            status=422,
        )
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


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

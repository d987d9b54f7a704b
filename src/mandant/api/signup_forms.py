"""Sign-up forms (double opt-in) of a tenant, under ``/api/v1/tenants/{id}/signup-forms``.

Every handler opens the tenant's scope itself and looks the form up inside that tenant: an id
of another tenant is a 404.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import Field

from mandant.accounts.roles import Action
from mandant.api.auth import actor_of
from mandant.api.contacts import tenant_scope
from mandant.api.inputs import Input, max_length
from mandant.api.tenants import DetailOut, ErrorOut
from mandant.contacts import selectors, services, signup
from mandant.contacts.models import SignupForm

router = Router(tags=["contacts"])


class SignupFormOut(Schema):
    id: int
    name: str
    list_id: int | None
    consent_text: str
    ask_first_name: bool
    ask_last_name: bool
    languages: list[str]
    success_url: str
    confirmed_url: str
    active: bool
    public_key: str
    url: str
    pending: int
    confirmed: int
    created_at: datetime


class SignupFormIn(Input):
    name: str = Field(max_length=max_length(SignupForm, "name"))
    list_id: int
    consent_text: str
    ask_first_name: bool = True
    ask_last_name: bool = False
    languages: list[str] = Field(default_factory=lambda: ["en"])
    success_url: str = ""
    confirmed_url: str = ""
    active: bool = True


def signup_form_out(form: SignupForm, counts: tuple[int, int] | None = None) -> SignupFormOut:
    """``counts``: (pending, confirmed) when the caller read them for many forms at once."""
    if counts is None:
        counts = selectors.signup_counts(tenant=form.tenant, forms=[form]).get(form.pk, (0, 0))
    return SignupFormOut(
        id=form.pk,
        name=form.name,
        list_id=form.contact_list_id,
        consent_text=form.consent_text,
        ask_first_name=form.ask_first_name,
        ask_last_name=form.ask_last_name,
        languages=form.languages,
        success_url=form.success_url,
        confirmed_url=form.confirmed_url,
        active=form.active,
        public_key=form.public_key,
        url=signup.form_url(form),
        pending=counts[0],
        confirmed=counts[1],
        created_at=form.created_at,
    )


@router.get(
    "/{id:tenant_id}/signup-forms",
    response={200: list[SignupFormOut], 403: DetailOut, 404: DetailOut},
    summary="The tenant's sign-up forms (double opt-in) with their counts",
)
def list_signup_forms(request: HttpRequest, tenant_id: int) -> list[SignupFormOut]:
    with tenant_scope(request, tenant_id, Action.CONTACT_EDIT) as (tenant, _grant):
        forms = list(selectors.signup_forms_of_tenant(tenant=tenant))
        counts = selectors.signup_counts(tenant=tenant, forms=forms)
        return [signup_form_out(form, counts.get(form.pk, (0, 0))) for form in forms]


@router.post(
    "/{id:tenant_id}/signup-forms",
    response={201: SignupFormOut, 403: DetailOut, 404: DetailOut, 422: ErrorOut},
    summary="Create a sign-up form; its hosted page is `url`",
)
def create_signup_form(
    request: HttpRequest, tenant_id: int, payload: SignupFormIn
) -> Status[SignupFormOut]:
    with tenant_scope(request, tenant_id, Action.CONTACT_EDIT) as (tenant, _grant):
        data = payload.dict()
        data["contact_list"] = data.pop("list_id")
        try:
            form = services.signup_form_create(actor=actor_of(request), tenant=tenant, **data)
        except ValidationError as exc:
            # The API calls the list ``list_id``.
            if hasattr(exc, "error_dict") and "contact_list" in exc.error_dict:
                exc.error_dict["list_id"] = exc.error_dict.pop("contact_list")
            raise
        return Status(201, signup_form_out(form))

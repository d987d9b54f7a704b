"""The price list and a tenant's upgrades: ``/api/v1/products``, ``/api/v1/tenants/{id}/upgrades``.

Amounts are strings (exact decimals, e.g. ``"29.00"``); names and units are in the request's
language (``Accept-Language``).
"""

from datetime import date, datetime

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from ninja.responses import Status

from mandant.api.auth import actor_of
from mandant.api.inputs import Input
from mandant.api.tenants import DetailOut, ErrorOut
from mandant.billing import services
from mandant.billing.models import ConditionsVersion, Product, ProductPrice
from mandant.billing.selectors import (
    last_day_in_force,
    price_list,
    tenant_upgrades,
)
from mandant.tenants.selectors import tenant_get_for_actor

router = Router(tags=["upgrades"])


class PricesOut(Schema):
    monthly_fee: str
    setup_fee: str
    unit_price: str
    unit: str
    vat_rate: str
    valid_from: date

    @staticmethod
    def of(price: ProductPrice | None) -> "PricesOut | None":
        if price is None:
            return None
        return PricesOut(
            monthly_fee=str(price.monthly_fee),
            setup_fee=str(price.setup_fee),
            unit_price=str(price.unit_price),
            unit=price.unit,
            vat_rate=str(price.vat_rate),
            valid_from=price.valid_from,
        )


class ProductOut(Schema):
    key: str
    name: str
    description: str
    kind: str
    editions: list[str]
    trial_days: int
    deactivation: str
    activation_role: int
    prices: PricesOut | None
    conditions_version: int | None

    @staticmethod
    def of(
        product: Product, price: ProductPrice | None, conditions: ConditionsVersion | None
    ) -> "ProductOut":
        return ProductOut(
            key=product.key,
            name=product.name,
            description=product.description,
            kind=product.kind,
            editions=list(product.editions),
            trial_days=product.trial_days,
            deactivation=product.deactivation_mode,
            activation_role=product.activation_role,
            prices=PricesOut.of(price),
            conditions_version=conditions.version if conditions is not None else None,
        )


class ActiveUpgradeOut(Schema):
    product: str
    name: str
    state: str  # "active", "trial", "ending"
    trial: bool
    started_at: datetime
    ends_at: datetime | None
    active_until: date | None
    activated_by: str | None  # e-mail; None when service staff added it
    prices: PricesOut | None


class AvailableUpgradeOut(Schema):
    product: str
    name: str
    kind: str
    trial_days: int  # the activation would start a free trial of this many days (0: paid)
    may_activate: bool
    prices: PricesOut | None
    conditions_version: int | None


class UpgradesOut(Schema):
    edition: str
    included: list[str]
    active: list[ActiveUpgradeOut]
    available: list[AvailableUpgradeOut]


class ActivateIn(Input):
    product: str
    accepted_conditions_version: int | None = None


class ActivationOut(Schema):
    product: str
    outcome: str  # "activated", "trial_started", "converted", "resumed"
    trial: bool
    started_at: datetime
    ends_at: datetime | None
    conditions_version: int


class DeactivationOut(Schema):
    product: str
    immediate: bool
    ends_at: datetime
    active_until: date


@router.get(
    "/products",
    response=list[ProductOut],
    summary="The price list: every offered product with today's prices",
)
def list_products(request: HttpRequest) -> list[ProductOut]:
    return [
        ProductOut.of(row.product, row.price, row.conditions)
        for row in price_list(offered_only=True)
    ]


@router.get(
    "/tenants/{id:tenant_id}/upgrades",
    response={200: UpgradesOut, 404: DetailOut},
    summary="What is active in the tenant and what it can activate",
)
def list_upgrades(request: HttpRequest, tenant_id: int) -> UpgradesOut:
    tenant, grant = tenant_get_for_actor(actor_of(request), pk=tenant_id)
    upgrades = tenant_upgrades(tenant, grant)
    return UpgradesOut(
        edition=tenant.version,
        included=[row.key for row in upgrades.included],
        active=[
            ActiveUpgradeOut(
                product=row.product.key,
                name=row.product.name,
                state=row.state,
                trial=row.activation.trial,
                started_at=row.activation.started_at,
                ends_at=row.activation.ends_at,
                active_until=row.active_until,
                activated_by=(
                    row.activation.activated_by.email
                    if row.activation.activated_by is not None and row.activation.acceptance_id
                    else None
                ),
                prices=PricesOut.of(row.price),
            )
            for row in upgrades.active
        ],
        available=[
            AvailableUpgradeOut(
                product=row.product.key,
                name=row.product.name,
                kind=row.product.kind,
                trial_days=row.product.trial_days if row.trial else 0,
                may_activate=row.may_activate,
                prices=PricesOut.of(row.price),
                conditions_version=row.conditions.version if row.conditions else None,
            )
            for row in upgrades.available
        ],
    )


@router.post(
    "/tenants/{id:tenant_id}/upgrades",
    response={201: ActivationOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut, 422: ErrorOut},
    summary="Activate a paid product, accepting its current conditions",
)
def activate_upgrade(
    request: HttpRequest, tenant_id: int, payload: ActivateIn
) -> Status[ActivationOut]:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    result = services.product_activate(
        actor=actor,
        tenant=tenant,
        product_key=payload.product,
        accepted_conditions_version=payload.accepted_conditions_version,
        client_ip=request.META.get("REMOTE_ADDR"),
    )
    activation = result.activation
    return Status(
        201,
        ActivationOut(
            product=payload.product,
            outcome=result.outcome,
            trial=activation.trial,
            started_at=activation.started_at,
            ends_at=activation.ends_at,
            conditions_version=result.acceptance.conditions.version,
        ),
    )


@router.delete(
    "/tenants/{id:tenant_id}/upgrades/{product}",
    response={202: DeactivationOut, 403: DetailOut, 404: DetailOut, 409: ErrorOut},
    summary="Deactivate a product (at the end of the billing period, unless it says otherwise)",
)
def deactivate_upgrade(
    request: HttpRequest, tenant_id: int, product: str
) -> Status[DeactivationOut]:
    actor = actor_of(request)
    tenant, _grant = tenant_get_for_actor(actor, pk=tenant_id)
    activation = services.product_deactivate(actor=actor, tenant=tenant, product_key=product)
    end = activation.ended_at or activation.ends_at or timezone.now()
    return Status(
        202,
        DeactivationOut(
            product=product,
            immediate=activation.ended_at is not None,
            ends_at=end,
            active_until=last_day_in_force(end),
        ),
    )

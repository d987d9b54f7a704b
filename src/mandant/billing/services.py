"""Every write of the billing app. Keyword-only arguments, explicit actor and tenant, one
transaction, one audit row.

Activation: ``product_activate`` (online, with accepted conditions), ``product_deactivate``
(at the end of the billing period, or at once for trials and products that say so),
``activations_expire`` (closes what ran out). Service staff: ``product_grant`` /
``product_remove`` (no conditions; ``tenants.services.tenant_set_management_active`` uses
them). Price list: ``price_add``, ``conditions_publish``, ``product_update``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scope, scopes_disabled

from mandant.accounts.roles import Role
from mandant.audit.services import audit_record
from mandant.billing.features import TENANT_MANAGEMENT, forget_upgrades, included_in_edition
from mandant.billing.models import (
    Activation,
    ActivationEvent,
    ConditionsAcceptance,
    ConditionsVersion,
    DeactivationMode,
    EndReason,
    EventKind,
    Product,
    ProductPrice,
)
from mandant.billing.seed import seed_price_list
from mandant.billing.selectors import (
    activation_in_force,
    activation_role_text,
    current_conditions,
    may_activate,
    period_end,
    price_on,
)
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants.models import Tenant, TenantVersion
from mandant.tenants.selectors import effective_grant

OPERATOR_GRANT = RoleGrant(role=Role.OPERATOR, source=None)


def ensure_price_list() -> int:
    """Create the seeded products that are missing (after a flushed test database, like
    ``root_tenant``); a no-op when they exist."""
    return seed_price_list(Product, ProductPrice, ConditionsVersion)


def _product(key: str, *, for_field: str | None = None) -> Product:
    """The product with ``key``: NotFound, or a ValidationError on ``for_field``."""
    product = Product.objects.filter(key=key).first() if isinstance(key, str) else None
    if product is None:
        if for_field is None:
            raise NotFound
        raise ValidationError(
            {for_field: ValidationError(_("There is no product with this key."), code="invalid")}
        )
    return product


def _grant(actor: Actor, tenant: Tenant) -> RoleGrant:
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    return grant


def _require_activation_role(grant: RoleGrant, tenant: Tenant, product: Product) -> None:
    if not may_activate(grant, tenant, product):
        raise PermissionDenied(
            _("Activating or deactivating “%(product)s” needs the role %(role)s.")
            % {"product": product.name, "role": activation_role_text(product)}
        )


def _conflict(message: str, code: str) -> ValidationError:
    return ValidationError({"product": ValidationError(message, code=code)})


def _already_active(product: Product) -> ValidationError:
    return _conflict(
        _("“%(product)s” is already active in this tenant.") % {"product": product.name},
        "already_active",
    )


def _lock_tenant(tenant: Tenant) -> None:
    """Serialise the activations of one tenant (SQLite: the IMMEDIATE transaction)."""
    list(Tenant.objects.select_for_update().filter(pk=tenant.pk).values_list("pk"))


def _event(
    activation: Activation,
    kind: str,
    *,
    at: datetime,
    actor: Actor | None = None,
    grant: RoleGrant | None = None,
    acceptance: ConditionsAcceptance | None = None,
    effective_at: datetime | None = None,
) -> ActivationEvent:
    return ActivationEvent.objects.create(
        tenant_id=activation.tenant_id,
        product_id=activation.product_id,
        activation=activation,
        kind=kind,
        at=at,
        effective_at=effective_at,
        user=actor.user if actor is not None else None,
        acting_role=grant.role if grant is not None else None,
        role_source=grant.source if grant is not None else None,
        acceptance=acceptance,
    )


def _set_management_flag(tenant: Tenant, product: Product, active: bool) -> None:
    """Keep the denormalised ``Tenant.tenant_management_active`` in step with the product."""
    if product.key != TENANT_MANAGEMENT:
        return
    Tenant.objects.filter(pk=tenant.pk).update(tenant_management_active=active)
    tenant.tenant_management_active = active


def _end(
    activation: Activation,
    *,
    at: datetime,
    reason: str,
    kind: str,
    actor: Actor | None = None,
    grant: RoleGrant | None = None,
) -> None:
    activation.ended_at = at
    activation.end_reason = reason
    if activation.ends_at is None or activation.ends_at > at:
        activation.ends_at = at
    activation.save(update_fields=["ended_at", "end_reason", "ends_at"])
    _event(activation, kind, at=at, actor=actor, grant=grant)


def _close_lapsed(tenant: Tenant, product: Product, now: datetime) -> None:
    """Close an open activation whose end has passed (``expire`` may not have run yet)."""
    lapsed = Activation.objects.filter(
        tenant=tenant, product=product, ended_at__isnull=True, ends_at__lte=now
    ).first()
    if lapsed is not None:
        assert lapsed.ends_at is not None
        _end_lapsed(lapsed, lapsed.ends_at)
        _set_management_flag(tenant, product, False)


def _end_lapsed(activation: Activation, at: datetime) -> None:
    if activation.trial:
        _end(activation, at=at, reason=EndReason.TRIAL_ENDED, kind=EventKind.TRIAL_ENDED)
    else:
        _end(activation, at=at, reason=EndReason.DEACTIVATED, kind=EventKind.DEACTIVATED)


# --------------------------------------------------------------------------------------
# Online activation


def _check_available(tenant: Tenant, product: Product) -> None:
    if not product.activatable or not product.offered:
        raise ValidationError(
            {
                "product": ValidationError(
                    _("“%(product)s” cannot be activated online.") % {"product": product.name},
                    code="not_activatable",
                )
            }
        )
    if not product.allowed_for(tenant.version):
        raise ValidationError(
            {
                "product": ValidationError(
                    _("“%(product)s” is not available for the edition %(edition)s.")
                    % {"product": product.name, "edition": TenantVersion(tenant.version).label},
                    code="not_available",
                )
            }
        )
    if included_in_edition(tenant.version, product.key):
        raise _conflict(
            _("“%(product)s” is included in the edition %(edition)s already.")
            % {"product": product.name, "edition": TenantVersion(tenant.version).label},
            "included_in_edition",
        )


def _check_conditions(
    product: Product, accepted_version: int | None, now: datetime
) -> ConditionsVersion:
    conditions = current_conditions(product, now)
    if conditions is None:
        raise ValidationError(
            {
                "product": ValidationError(
                    _("“%(product)s” has no conditions yet and cannot be activated online.")
                    % {"product": product.name},
                    code="not_activatable",
                )
            }
        )
    if accepted_version != conditions.version:
        raise ValidationError(
            {
                "accepted_conditions_version": ValidationError(
                    _(
                        "Please read and accept the current conditions of “%(product)s” "
                        "(version %(version)s)."
                    )
                    % {"product": product.name, "version": conditions.version},
                    code="conditions_not_accepted",
                )
            }
        )
    return conditions


@dataclass(frozen=True)
class ActivationOutcome:
    activation: Activation
    acceptance: ConditionsAcceptance
    # "activated", "trial_started", "converted" (a trial became paid), "resumed" (a requested
    # deactivation was withdrawn).
    outcome: str


def product_activate(
    *,
    actor: Actor,
    tenant: Tenant,
    product_key: str,
    accepted_conditions_version: int | None,
    client_ip: str | None = None,
) -> ActivationOutcome:
    """Activate a paid product online, after the actor accepted its current conditions.

    Records the acceptance (user, the tenant the role comes from, tenant, product, conditions
    version, time, client IP) and the activation; the first activation of a product with
    trial days is a free trial. Activating a product in trial makes it paid; activating one
    whose deactivation is pending withdraws the deactivation. After the commit, the conditions
    (PDF) are mailed to the actor and "paid upgrade activated" to the administrators.

    Errors: NotFound (tenant out of reach), ValidationError on ``product`` (unknown, not
    available: 422; already active or included in the edition: 409, codes
    ``already_active`` / ``included_in_edition``), ValidationError on
    ``accepted_conditions_version`` (422), PermissionDenied (role too weak).
    """
    grant = _grant(actor, tenant)
    product = _product(product_key, for_field="product")
    _require_activation_role(grant, tenant, product)
    _check_available(tenant, product)
    current = activation_in_force(tenant, product)
    if current is not None and not current.trial and current.ends_at is None:
        raise _already_active(product)
    now = timezone.now()
    conditions = _check_conditions(product, accepted_conditions_version, now)
    if price_on(product, timezone.localdate(now)) is None:
        raise _conflict(
            _("“%(product)s” has no price yet. Please contact our service team.")
            % {"product": product.name},
            "no_price",
        )
    try:
        with transaction.atomic(), scope(tenant=tenant.pk):
            result = _activate_locked(
                actor, grant, tenant, product, conditions, now, _clean_ip(client_ip)
            )
    except IntegrityError as exc:  # a concurrent activation of the same product won
        raise _already_active(product) from exc
    forget_upgrades(tenant)
    return result


def _clean_ip(client_ip: str | None) -> str | None:
    from django.core.validators import validate_ipv46_address

    if not client_ip:
        return None
    try:
        validate_ipv46_address(client_ip)
    except ValidationError:
        return None
    return client_ip


def _activate_locked(
    actor: Actor,
    grant: RoleGrant,
    tenant: Tenant,
    product: Product,
    conditions: ConditionsVersion,
    now: datetime,
    client_ip: str | None,
) -> ActivationOutcome:
    _lock_tenant(tenant)
    _close_lapsed(tenant, product, now)
    current = Activation.objects.filter(
        tenant=tenant, product=product, ended_at__isnull=True
    ).first()
    if current is not None and not current.trial and current.ends_at is None:
        raise _already_active(product)
    acceptance = ConditionsAcceptance.objects.create(
        tenant=tenant,
        product=product,
        conditions=conditions,
        user=actor.user,
        acting_role=grant.role,
        acting_as=grant.source,
        via_api_key=actor.api_key,
        accepted_at=now,
        client_ip=client_ip,
    )
    if current is not None and not current.trial:
        # A deactivation is pending: withdraw it; the activation runs on.
        outcome = "resumed"
        current.ends_at = None
        current.deactivation_requested_at = None
        current.deactivated_by = None
        current.save(update_fields=["ends_at", "deactivation_requested_at", "deactivated_by"])
        activation = current
        _event(
            activation,
            EventKind.DEACTIVATION_CANCELLED,
            at=now,
            actor=actor,
            grant=grant,
            acceptance=acceptance,
        )
    else:
        if current is not None:  # a trial becomes a paid activation from now on
            _end(
                current,
                at=now,
                reason=EndReason.CONVERTED,
                kind=EventKind.TRIAL_ENDED,
                actor=actor,
                grant=grant,
            )
        earlier = Activation.objects.filter(tenant=tenant, product=product)
        trial = product.trial_days > 0 and not earlier.exists()
        outcome = "converted" if current is not None else "trial_started" if trial else "activated"
        activation = Activation.objects.create(
            tenant=tenant,
            product=product,
            trial=trial,
            started_at=now,
            ends_at=now + timedelta(days=product.trial_days) if trial else None,
            acceptance=acceptance,
            activated_by=actor.user,
            acting_role=grant.role,
            role_source=grant.source,
            via_api_key=actor.api_key,
            charge_setup_fee=not trial and not earlier.filter(trial=False).exists(),
        )
        _event(
            activation,
            EventKind.TRIAL_STARTED if trial else EventKind.ACTIVATED,
            at=now,
            actor=actor,
            grant=grant,
            acceptance=acceptance,
        )
    _set_management_flag(tenant, product, True)
    audit_record(
        actor=actor,
        action="billing.activate",
        tenant=tenant,
        grant=grant,
        obj=activation,
        changes={
            "product": product.key,
            "outcome": outcome,
            "trial": activation.trial,
            "conditions_version": conditions.version,
            "ends_at": activation.ends_at.isoformat() if activation.ends_at else None,
            "client_ip": client_ip,
        },
    )
    from mandant.billing import emails

    emails.queue_upgrade_notices(activation=activation, actor=actor)
    transaction.on_commit(lambda: emails.enqueue_conditions_mail(acceptance.pk))
    return ActivationOutcome(activation=activation, acceptance=acceptance, outcome=outcome)


# --------------------------------------------------------------------------------------
# Deactivation


def product_deactivate(*, actor: Actor, tenant: Tenant, product_key: str) -> Activation:
    """Deactivate a product: at the end of the billing period (the current month), or at
    once for a trial or a product whose deactivation mode says so. Asking again while a
    deactivation is pending changes nothing. Returns the activation; its ``ends_at`` is when
    it ends (or ended).

    Errors: NotFound (tenant out of reach or unknown product), PermissionDenied, and a
    ValidationError ``not_active`` (409) when the product is not active in the tenant.
    """
    grant = _grant(actor, tenant)
    product = _product(product_key)
    _require_activation_role(grant, tenant, product)
    now = timezone.now()
    with transaction.atomic(), scope(tenant=tenant.pk):
        _lock_tenant(tenant)
        _close_lapsed(tenant, product, now)
        activation = Activation.objects.filter(
            tenant=tenant, product=product, ended_at__isnull=True
        ).first()
        if activation is None:
            raise _conflict(
                _("“%(product)s” is not active in this tenant.") % {"product": product.name},
                "not_active",
            )
        if activation.ends_at is not None and not activation.trial:
            return activation  # already pending
        immediate = activation.trial or product.deactivation_mode == DeactivationMode.IMMEDIATE
        activation.deactivation_requested_at = now
        activation.deactivated_by = actor.user
        activation.save(update_fields=["deactivation_requested_at", "deactivated_by"])
        if immediate:
            reason = EndReason.TRIAL_ENDED if activation.trial else EndReason.DEACTIVATED
            kind = EventKind.TRIAL_ENDED if activation.trial else EventKind.DEACTIVATED
            _end(activation, at=now, reason=reason, kind=kind, actor=actor, grant=grant)
            _set_management_flag(tenant, product, False)
        else:
            activation.ends_at = period_end(now)
            activation.save(update_fields=["ends_at"])
            _event(
                activation,
                EventKind.DEACTIVATION_SCHEDULED,
                at=now,
                actor=actor,
                grant=grant,
                effective_at=activation.ends_at,
            )
        audit_record(
            actor=actor,
            action="billing.deactivate",
            tenant=tenant,
            grant=grant,
            obj=activation,
            changes={
                "product": product.key,
                "immediate": immediate,
                "ends_at": activation.ends_at.isoformat() if activation.ends_at else None,
            },
        )
    forget_upgrades(tenant)
    return activation


def activations_expire(*, now: datetime | None = None) -> int:
    """Close every activation whose end has passed (trials that ran out, deactivations that
    took effect): record the end in the history, clear the Tenant-management flag. Safe to
    run at any time and more than once; returns how many it closed."""
    now = now or timezone.now()
    # A platform-wide sweep: every tenant's due activations.
    with scopes_disabled():
        due = list(
            Activation.objects.filter(ended_at__isnull=True, ends_at__lte=now)
            .order_by("ends_at")
            .values_list("pk", flat=True)[:10_000]
        )
    closed = 0
    for activation_id in due:
        with transaction.atomic(), scopes_disabled():
            activation = (
                Activation.objects.select_for_update()
                .select_related("product", "tenant")
                .filter(pk=activation_id, ended_at__isnull=True, ends_at__lte=now)
                .first()
            )
            if activation is None:
                continue  # closed meanwhile
            assert activation.ends_at is not None
            _end_lapsed(activation, activation.ends_at)
            _set_management_flag(activation.tenant, activation.product, False)
            audit_record(
                actor=None,
                action="billing.expire",
                tenant=activation.tenant,
                obj=activation,
                changes={"product": activation.product.key, "reason": activation.end_reason},
            )
            closed += 1
    return closed


# --------------------------------------------------------------------------------------
# Service staff


def _require_operator(actor: Actor) -> None:
    if not actor.is_operator:
        raise PermissionDenied(_("Only service staff can change products of a tenant."))


def product_grant(*, actor: Actor, tenant: Tenant, product_key: str) -> Activation:
    """Service staff add a product to a tenant, without online activation or conditions.
    Idempotent: an active product stays as it is (a pending end is withdrawn)."""
    _require_operator(actor)
    product = Product.objects.filter(key=product_key).first()
    if product is None and ensure_price_list():
        product = Product.objects.filter(key=product_key).first()
    if product is None:
        raise NotFound
    now = timezone.now()
    with transaction.atomic(), scope(tenant=tenant.pk):
        _lock_tenant(tenant)
        _close_lapsed(tenant, product, now)
        activation = Activation.objects.filter(
            tenant=tenant, product=product, ended_at__isnull=True
        ).first()
        changes: dict[str, Any] = {"product": product.key}
        if activation is not None and activation.trial:
            # A trial becomes a regular activation from now on.
            _end(
                activation,
                at=now,
                reason=EndReason.CONVERTED,
                kind=EventKind.TRIAL_ENDED,
                actor=actor,
                grant=OPERATOR_GRANT,
            )
            activation = None
        if activation is None:
            earlier = Activation.objects.filter(tenant=tenant, product=product, trial=False)
            activation = Activation.objects.create(
                tenant=tenant,
                product=product,
                started_at=now,
                activated_by=actor.user,
                acting_role=Role.OPERATOR,
                charge_setup_fee=not earlier.exists(),
            )
            _event(activation, EventKind.ADDED, at=now, actor=actor, grant=OPERATOR_GRANT)
            changes["outcome"] = "added"
        elif activation.ends_at is not None:
            activation.ends_at = None
            activation.deactivation_requested_at = None
            activation.deactivated_by = None
            activation.save(
                update_fields=["ends_at", "deactivation_requested_at", "deactivated_by"]
            )
            _event(activation, EventKind.ADDED, at=now, actor=actor, grant=OPERATOR_GRANT)
            changes["outcome"] = "end_withdrawn"
        else:
            changes["outcome"] = "unchanged"
        _set_management_flag(tenant, product, True)
        if changes["outcome"] != "unchanged":
            audit_record(
                actor=actor,
                action="billing.product_added",
                tenant=tenant,
                grant=OPERATOR_GRANT,
                obj=activation,
                changes=changes,
            )
    forget_upgrades(tenant)
    return activation


def product_remove(*, actor: Actor, tenant: Tenant, product_key: str) -> Activation | None:
    """Service staff end a product in a tenant at once. Returns the ended activation, or
    None when the product was not active (nothing changes then)."""
    _require_operator(actor)
    product = _product(product_key)
    now = timezone.now()
    with transaction.atomic(), scope(tenant=tenant.pk):
        _lock_tenant(tenant)
        _close_lapsed(tenant, product, now)
        activation = Activation.objects.filter(
            tenant=tenant, product=product, ended_at__isnull=True
        ).first()
        _set_management_flag(tenant, product, False)
        if activation is None:
            forget_upgrades(tenant)
            return None
        activation.deactivation_requested_at = now
        activation.deactivated_by = actor.user
        activation.save(update_fields=["deactivation_requested_at", "deactivated_by"])
        _end(
            activation,
            at=now,
            reason=EndReason.DEACTIVATED,
            kind=EventKind.REMOVED,
            actor=actor,
            grant=OPERATOR_GRANT,
        )
        audit_record(
            actor=actor,
            action="billing.product_removed",
            tenant=tenant,
            grant=OPERATOR_GRANT,
            obj=activation,
            changes={"product": product.key},
        )
    forget_upgrades(tenant)
    return activation


# --------------------------------------------------------------------------------------
# The price list (operators)


def _require_price_list_manager(actor: Actor) -> None:
    if not actor.is_operator:
        raise PermissionDenied(_("Only service staff can change the price list."))


def _amount(value: object, field: str, places: int, errors: dict[str, ValidationError]) -> Decimal:
    try:
        amount = Decimal(str(value if value not in (None, "") else "0"))
    except (InvalidOperation, ValueError):
        errors[field] = ValidationError(_("Enter an amount, e.g. 19.90."), code="invalid")
        return Decimal(0)
    if not amount.is_finite() or amount < 0:
        errors[field] = ValidationError(_("Enter an amount of at least 0."), code="invalid")
        return Decimal(0)
    quantum = Decimal(1).scaleb(-places)
    if amount != amount.quantize(quantum):
        errors[field] = ValidationError(
            _("Use at most %(places)s decimal places.") % {"places": places}, code="invalid"
        )
    if amount >= Decimal(10) ** (10 - places):
        errors[field] = ValidationError(_("This amount is too large."), code="invalid")
    return amount


def price_add(
    *,
    actor: Actor,
    product: Product,
    valid_from: date,
    monthly_fee: object = 0,
    setup_fee: object = 0,
    unit_price: object = 0,
    unit_en: str = "",
    unit_de: str = "",
    vat_rate: object = "19",
) -> ProductPrice:
    """A price change from ``valid_from`` (today or later: a day that invoices may already
    have used keeps its price). A planned change for the same day is replaced."""
    _require_price_list_manager(actor)
    errors: dict[str, ValidationError] = {}
    amounts = {
        "monthly_fee": _amount(monthly_fee, "monthly_fee", 2, errors),
        "setup_fee": _amount(setup_fee, "setup_fee", 2, errors),
        "unit_price": _amount(unit_price, "unit_price", 4, errors),
    }
    vat = _amount(vat_rate, "vat_rate", 2, errors)
    if "vat_rate" not in errors and vat > 100:
        errors["vat_rate"] = ValidationError(
            _("Enter a VAT rate between 0 and 100 %."), code="invalid"
        )
    if valid_from < timezone.localdate():
        errors["valid_from"] = ValidationError(
            _("A price change takes effect today or later; past days keep their prices."),
            code="past",
        )
    unit_en, unit_de = (unit_en or "").strip(), (unit_de or "").strip()
    if amounts["unit_price"] and not unit_en:
        errors["unit_en"] = ValidationError(
            _("Name the unit the price is for, e.g. “1,000 mails”."), code="required"
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        price, created = ProductPrice.objects.update_or_create(
            product=product,
            valid_from=valid_from,
            defaults={
                **amounts,
                "vat_rate": vat,
                "unit_en": unit_en[:60],
                "unit_de": (unit_de or unit_en)[:60],
                "created_by": actor.user,
            },
        )
        audit_record(
            actor=actor,
            action="billing.price_add" if created else "billing.price_replace",
            tenant=None,
            grant=OPERATOR_GRANT,
            obj=price,
            changes={
                "product": product.key,
                "valid_from": valid_from.isoformat(),
                **{name: str(value) for name, value in amounts.items()},
                "vat_rate": str(vat),
            },
        )
    return price


CONDITIONS_MAX = 50_000


def conditions_publish(
    *, actor: Actor, product: Product, text_en: str, text_de: str
) -> ConditionsVersion:
    """A new version of the product's conditions, in force at once (the next version number).
    Earlier versions stay as they were: acceptances refer to them."""
    _require_price_list_manager(actor)
    errors: dict[str, ValidationError] = {}
    texts = {"text_en": (text_en or "").strip(), "text_de": (text_de or "").strip()}
    for name, text in texts.items():
        if not text:
            errors[name] = ValidationError(_("This field is required."), code="required")
        elif len(text) > CONDITIONS_MAX:
            errors[name] = ValidationError(
                _("Please shorten this to at most %(limit)s characters (it has %(count)s).")
                % {"limit": CONDITIONS_MAX, "count": len(text)},
                code="too_long",
            )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Serialise version numbers per product.
        Product.objects.select_for_update().filter(pk=product.pk).values_list("pk").first()
        last = ConditionsVersion.objects.filter(product=product).order_by("-version").first()
        if last is not None and (last.text_en, last.text_de) == (
            texts["text_en"],
            texts["text_de"],
        ):
            raise ValidationError(
                {
                    "text_en": ValidationError(
                        _("The text is the same as the current version %(version)s.")
                        % {"version": last.version},
                        code="unchanged",
                    )
                }
            )
        version = ConditionsVersion.objects.create(
            product=product,
            version=(last.version if last else 0) + 1,
            published_at=timezone.now(),
            created_by=actor.user,
            **texts,
        )
        audit_record(
            actor=actor,
            action="billing.conditions_publish",
            tenant=None,
            grant=OPERATOR_GRANT,
            obj=version,
            changes={"product": product.key, "version": version.version},
        )
    return version


PRODUCT_SETTINGS = (
    "name_en",
    "name_de",
    "description_en",
    "description_de",
    "editions",
    "activation_role",
    "trial_days",
    "deactivation_mode",
    "offered",
    "sort_order",
)


def product_update(*, actor: Actor, product: Product, **changes: Any) -> Product:
    """Change a product's names, descriptions, editions, activation role, trial days,
    deactivation mode, whether it is offered, its order. Prices and conditions have their
    own, versioned, services."""
    _require_price_list_manager(actor)
    unknown = set(changes) - set(PRODUCT_SETTINGS)
    if unknown:
        raise ValueError(f"Not a product setting: {sorted(unknown)}")
    errors: dict[str, ValidationError] = {}
    for name in ("name_en", "name_de"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
            if not changes[name]:
                errors[name] = ValidationError(_("This field is required."), code="required")
    if "editions" in changes:
        editions = list(dict.fromkeys(changes["editions"] or []))
        if any(e not in TenantVersion.values for e in editions):
            errors["editions"] = ValidationError(_("Choose editions from the list."), "invalid")
        changes["editions"] = editions
    if "activation_role" in changes and changes["activation_role"] not in (
        Role.ADMINISTRATOR,
        Role.CUSTOMER_SERVICE,
    ):
        errors["activation_role"] = ValidationError(_("Choose a role from the list."), "invalid")
    if "deactivation_mode" in changes and changes["deactivation_mode"] not in DeactivationMode:
        errors["deactivation_mode"] = ValidationError(_("Choose from the list."), "invalid")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Product.objects.select_for_update().get(pk=product.pk)
        diff = {
            name: [getattr(locked, name), value]
            for name, value in changes.items()
            if getattr(locked, name) != value
        }
        for name, (_before, after) in diff.items():
            setattr(locked, name, after)
        if diff:
            locked.save()
            audit_record(
                actor=actor,
                action="billing.product_update",
                tenant=None,
                grant=OPERATOR_GRANT,
                obj=locked,
                changes={name: [str(b), str(a)] for name, (b, a) in diff.items()},
            )
    return locked

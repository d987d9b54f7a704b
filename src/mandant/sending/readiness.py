"""*Versendefähig*: the computed checklist of what a tenant needs before it can send.

The tenant-level conditions (configured, an administrator with a proven address) come from
``tenants.selectors.handover_conditions``, so they are computed in one place.
"""

from collections.abc import Sequence
from typing import NamedTuple

from django.urls import reverse
from django.utils.translation import gettext as _
from django_scopes import scope

from mandant.sending.selectors import has_verified_domain, postal_address_get
from mandant.tenants.models import Tenant, TenantType
from mandant.tenants.selectors import HandoverCondition, handover_conditions


class ReadinessCheck(NamedTuple):
    key: str
    label: str
    ok: bool
    hint: str
    fix_url: str


def no_administrator_hint() -> str:
    """The hint for a tenant without an administrator, shown to a role that cannot create one:
    who can."""
    return _(
        "No administrator yet: an administrator or Customer Service of a tenant above this one "
        "can create one, or our service staff."
    )


def tenant_readiness(
    tenant: Tenant,
    *,
    handover: Sequence[HandoverCondition] | None = None,
    may_create_administrator: bool = True,
) -> list[ReadinessCheck]:
    """``handover``: the tenant's hand-over conditions when the caller has them already (the
    home page shows both), so they are not computed twice. ``may_create_administrator``: the
    acting role may create one here (``Action.USER_CREATE_ADMINISTRATOR``); otherwise the hint
    says who can, without a link to a page that would refuse it."""
    if handover is None:
        handover = handover_conditions(tenant)
    conditions = {condition.key: condition for condition in handover}
    sending_url = reverse("sending:setup", args=[tenant.slug])
    checks: list[ReadinessCheck] = []

    configured = conditions["configured"]
    if tenant.type == TenantType.CUSTOM:
        hint = (
            ""
            if configured.ok
            else _("Waiting for our service staff to configure this CUSTOM tenant.")
        )
        checks.append(ReadinessCheck("configured", configured.label, configured.ok, hint, ""))
    else:
        checks.append(ReadinessCheck("configured", configured.label, True, "", ""))

    has_admin = conditions["administrator"].ok
    admin_ready = conditions["administrator_ready"].ok
    if not has_admin and may_create_administrator:
        admin_hint = _("No administrator yet: create one.")
        admin_url = conditions["administrator"].fix_url
    elif not has_admin:
        admin_hint, admin_url = no_administrator_hint(), ""
    else:
        admin_hint = _(
            "Waiting for an administrator to confirm their e-mail address: see Setup → Users."
        )
        admin_url = conditions["administrator_ready"].fix_url
    checks.append(
        ReadinessCheck(
            "administrator",
            _("At least one administrator with a verified e-mail address"),
            admin_ready,
            "" if admin_ready else admin_hint,
            "" if admin_ready else admin_url,
        )
    )

    with scope(tenant=tenant.pk):
        domain_ok = has_verified_domain(tenant)
        address_ok = postal_address_get(tenant) is not None
    checks.append(
        ReadinessCheck(
            "sending_domain",
            _("A verified sending domain (SPF, DKIM and DMARC published)"),
            domain_ok,
            "" if domain_ok else _("Add a sending domain and publish its DNS records."),
            "" if domain_ok else sending_url + "#domains",
        )
    )
    checks.append(
        ReadinessCheck(
            "postal_address",
            _("The sender's postal address for the footer (imprint)"),
            address_ok,
            "" if address_ok else _("Enter the postal address of the sender."),
            "" if address_ok else sending_url + "#postal-address",
        )
    )
    if "not_suspended" in conditions:
        checks.append(
            ReadinessCheck(
                "not_suspended",
                conditions["not_suspended"].label,
                False,
                _("A suspended tenant cannot send. Please contact our service team."),
                "",
            )
        )
    return checks


def is_ready(checks: list[ReadinessCheck]) -> bool:
    return all(check.ok for check in checks)

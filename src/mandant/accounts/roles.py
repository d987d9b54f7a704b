"""Roles and the permission matrix: the one place that says who may do what.

Roles are ordered integers with gaps (as in Zulip): a *lower* number is *more* power, so
"at least Customer Service" is ``role <= Role.CUSTOMER_SERVICE`` and a new role fits between
two others. ``docs/roles.md`` mirrors this module; keep them in step.
"""

from enum import Enum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.IntegerChoices):
    # Operators (platform staff) act everywhere; never stored on a membership.
    OPERATOR = 50, _("Operator")
    ADMINISTRATOR = 100, _("Administrator")
    CUSTOMER_SERVICE = 200, _("Customer Service")
    EDITOR = 300, _("Editor")
    VIEWER = 400, _("Viewer")


MEMBERSHIP_ROLE_CHOICES = [(role.value, role.label) for role in Role if role is not Role.OPERATOR]


class Action(Enum):
    TENANT_VIEW = "tenant.view"
    TENANT_EDIT = "tenant.edit"
    TENANT_CREATE_SUBTENANT = "tenant.create_subtenant"
    TENANT_LIST_SUBTREE = "tenant.list_subtree"
    TENANT_MARK_CONFIGURED = "tenant.mark_configured"
    TENANT_HAND_OVER = "tenant.hand_over"
    USER_LIST = "user.list"
    USER_MANAGE = "user.manage"
    USER_CREATE_ADMINISTRATOR = "user.create_administrator"
    APIKEY_MANAGE = "apikey.manage"
    CONTENT_VIEW = "content.view"
    CONTENT_EDIT = "content.edit"
    CONTENT_COPY = "content.copy"
    INVOICE_VIEW = "invoice.view"
    INVOICE_RUN = "invoice.run"
    UPGRADE_VIEW = "upgrade.view"
    UPGRADE_ACTIVATE = "upgrade.activate"
    UPGRADE_HISTORY = "upgrade.history"
    PRICE_LIST_MANAGE = "price_list.manage"
    SENDING_VIEW = "sending.view"
    SENDING_MANAGE = "sending.manage"
    SENDING_VERIFY_WITHOUT_DNS = "sending.verify_without_dns"
    CONTACT_VIEW = "contact.view"
    CONTACT_EDIT = "contact.edit"
    CONTACT_IMPORT = "contact.import"
    CAMPAIGN_VIEW = "campaign.view"
    CAMPAIGN_EDIT = "campaign.edit"


# The weakest role that may perform each action (inherited roles count the same).
PERMISSIONS: dict[Action, Role] = {
    Action.TENANT_VIEW: Role.VIEWER,
    Action.USER_LIST: Role.VIEWER,
    Action.TENANT_EDIT: Role.CUSTOMER_SERVICE,
    Action.TENANT_CREATE_SUBTENANT: Role.CUSTOMER_SERVICE,
    Action.TENANT_LIST_SUBTREE: Role.CUSTOMER_SERVICE,
    Action.APIKEY_MANAGE: Role.CUSTOMER_SERVICE,
    Action.USER_MANAGE: Role.CUSTOMER_SERVICE,
    Action.USER_CREATE_ADMINISTRATOR: Role.CUSTOMER_SERVICE,
    Action.TENANT_HAND_OVER: Role.CUSTOMER_SERVICE,
    Action.TENANT_MARK_CONFIGURED: Role.OPERATOR,
    Action.CONTENT_VIEW: Role.VIEWER,
    # Create, edit, delete, restore, and "Get from master" for an inherited item.
    Action.CONTENT_EDIT: Role.EDITOR,
    # Copy Content into the sub-tenants below: the people who manage those sub-tenants.
    Action.CONTENT_COPY: Role.CUSTOMER_SERVICE,
    # Invoices of the billing account of the tenant (Setup → Billing): its Administrators.
    Action.INVOICE_VIEW: Role.ADMINISTRATOR,
    # The monthly run, cancellations and credit notes: service staff.
    Action.INVOICE_RUN: Role.OPERATOR,
    # Setup → Upgrades: what is active, what can be activated, the prices.
    Action.UPGRADE_VIEW: Role.VIEWER,
    # Activate/deactivate a paid product. The default; each product names its own role
    # (billing.selectors.may_activate), Customer Service only in the tenants below its own.
    Action.UPGRADE_ACTIVATE: Role.ADMINISTRATOR,
    # The activation history: the tenant's administrators, its partner, operators.
    Action.UPGRADE_HISTORY: Role.CUSTOMER_SERVICE,
    Action.PRICE_LIST_MANAGE: Role.OPERATOR,
    # Contacts, lists, segments and the export: everyone who works in the tenant sees them;
    # editors change them and import CSV files.
    Action.CONTACT_VIEW: Role.VIEWER,
    Action.CONTACT_EDIT: Role.EDITOR,
    Action.CONTACT_IMPORT: Role.EDITOR,
    # Campaigns: everyone in the tenant sees them; editors create, change and test-send drafts.
    Action.CAMPAIGN_VIEW: Role.VIEWER,
    Action.CAMPAIGN_EDIT: Role.EDITOR,
    # Setup → Sending: the sending domains, their DNS records, sender identities, the postal
    # address of the sender; seeing them is harmless, changing them decides who mail comes from.
    Action.SENDING_VIEW: Role.VIEWER,
    Action.SENDING_MANAGE: Role.ADMINISTRATOR,
    # Marking a domain verified without its DNS records (test systems): service staff only.
    Action.SENDING_VERIFY_WITHOUT_DNS: Role.OPERATOR,
}

# Actions that a role weaker than Administrator (Customer Service) performs only in tenants
# *below* its own, i.e. through an inherited role: a partner manages its customers' users
# and hands their tenants over; in the partner's own tenant its Administrators decide.
BELOW_OWN_TENANT_ONLY: frozenset[Action] = frozenset(
    {
        Action.USER_MANAGE,
        Action.USER_CREATE_ADMINISTRATOR,
        Action.TENANT_HAND_OVER,
        Action.UPGRADE_HISTORY,
    }
)


def role_allows(role: int | None, action: Action) -> bool:
    return role is not None and role <= PERMISSIONS[action]


def grant_allows(role: int | None, action: Action, *, inherited: bool) -> bool:
    """``role_allows`` plus the rule for ``BELOW_OWN_TENANT_ONLY`` actions.

    ``inherited``: the role comes from a membership on an ancestor, not on the tenant itself
    (operators, whose role comes from no membership, count as inherited).
    """
    if not role_allows(role, action):
        return False
    assert role is not None
    return not (action in BELOW_OWN_TENANT_ONLY and role > Role.ADMINISTRATOR and not inherited)

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


MEMBERSHIP_ROLE_CHOICES = [
    (role.value, role.label) for role in Role if role is not Role.OPERATOR
]


class Action(Enum):
    TENANT_VIEW = "tenant.view"
    TENANT_EDIT = "tenant.edit"
    TENANT_CREATE_SUBTENANT = "tenant.create_subtenant"
    TENANT_LIST_SUBTREE = "tenant.list_subtree"
    TENANT_MARK_CONFIGURED = "tenant.mark_configured"
    USER_LIST = "user.list"
    APIKEY_MANAGE = "apikey.manage"


# The weakest role that may perform each action (inherited roles count the same).
PERMISSIONS: dict[Action, Role] = {
    Action.TENANT_VIEW: Role.VIEWER,
    Action.USER_LIST: Role.VIEWER,
    Action.TENANT_EDIT: Role.CUSTOMER_SERVICE,
    Action.TENANT_CREATE_SUBTENANT: Role.CUSTOMER_SERVICE,
    Action.TENANT_LIST_SUBTREE: Role.CUSTOMER_SERVICE,
    Action.APIKEY_MANAGE: Role.CUSTOMER_SERVICE,
    Action.TENANT_MARK_CONFIGURED: Role.OPERATOR,
}


def role_allows(role: int | None, action: Action) -> bool:
    return role is not None and role <= PERMISSIONS[action]

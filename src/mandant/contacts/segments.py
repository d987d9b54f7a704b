"""The small filter language of segments.

A segment's ``rules`` is ``{"conditions": [{"field": …, "op": …, "value": …}, …]}``; a contact
belongs to the segment when it matches *every* condition. ``field`` is one of

* ``status`` (op ``equals``), ``language`` (``equals``),
* ``list`` (``equals``; the value is a list of the same tenant, by name or id; stored as id),
* ``email_domain`` (``equals``: the part after ``@``),
* ``field:<name>`` — a custom field (``equals`` or ``contains``, case-insensitive).
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from mandant.contacts.models import Contact, ContactList, ContactStatus, ListMembership
from mandant.core.ids import as_pk
from mandant.tenants.models import Tenant

OPS = ("equals", "contains")
FIXED_FIELDS = ("status", "language", "list", "email_domain")
# What the form shows for each comparison (the value stays the technical name).
OP_LABELS: dict[str, Promise] = {
    "equals": pgettext_lazy("segment comparison", "is"),
    "contains": pgettext_lazy("segment comparison", "contains"),
}
# The fields as the form explains them: (name typed under "Field", label, what the value is).
FIELD_HELP: tuple[tuple[str, Promise, Promise], ...] = (
    (
        "status",
        gettext_lazy("Status"),
        gettext_lazy("active, unsubscribed, bounced, complained, blocked or unconfirmed"),
    ),
    ("language", gettext_lazy("Language"), gettext_lazy("a language code such as de or en")),
    ("list", gettext_lazy("List"), gettext_lazy("the list's name")),
    ("email_domain", gettext_lazy("E-mail domain"), gettext_lazy("the part after the @")),
    (
        "field:NAME",
        gettext_lazy("Custom field NAME"),
        gettext_lazy("its content, or with “contains” a part of it"),
    ),
)


def _list_id(tenant: Tenant, value: str) -> str:
    """A list of the tenant by its name (as people know it) or its number; stored by number,
    so renaming the list keeps the segment."""
    lists = ContactList.objects.filter(tenant=tenant)
    found = lists.filter(pk=as_pk(value)) if value.isdigit() else lists.filter(name__iexact=value)
    pk = found.values_list("pk", flat=True).first()
    if pk is None:
        raise ValidationError(
            {"rules": _("No list “%(value)s” in this tenant.") % {"value": value}}
        )
    return str(pk)


def clean_rules(tenant: Tenant, rules: Any) -> dict[str, Any]:
    """The rules in canonical form; ValidationError on ``rules`` otherwise."""
    if not isinstance(rules, dict) or not isinstance(rules.get("conditions"), list):
        raise ValidationError({"rules": _("Give the conditions as a list.")})
    cleaned = []
    for condition in rules["conditions"]:
        if not isinstance(condition, dict):
            raise ValidationError({"rules": _("Each condition has a field, an op and a value.")})
        field = str(condition.get("field", ""))
        op = str(condition.get("op", "equals"))
        value = str(condition.get("value", "")).strip()
        custom = field.startswith("field:") and len(field) > len("field:")
        if field not in FIXED_FIELDS and not custom:
            raise ValidationError({"rules": _("Unknown field: %(field)s.") % {"field": field}})
        if op not in OPS or (op == "contains" and not custom):
            raise ValidationError({"rules": _("Unknown comparison: %(op)s.") % {"op": op}})
        if field == "status" and value not in ContactStatus.values:
            raise ValidationError({"rules": _("Unknown status: %(value)s.") % {"value": value}})
        if field == "list":
            value = _list_id(tenant, value)
        cleaned.append({"field": field, "op": op, "value": value})
    return {"conditions": cleaned}


def apply_rules(
    tenant: Tenant, queryset: QuerySet[Contact], rules: dict[str, Any]
) -> QuerySet[Contact]:
    for condition in rules.get("conditions", []):
        field, op, value = condition["field"], condition["op"], condition["value"]
        if field == "status":
            queryset = queryset.filter(status=value)
        elif field == "language":
            queryset = queryset.filter(language__iexact=value)
        elif field == "email_domain":
            queryset = queryset.filter(email__endswith="@" + value.lower())
        elif field == "list":
            members = ListMembership.objects.filter(
                tenant=tenant, contact_list_id=int(value)
            ).values("contact_id")
            queryset = queryset.filter(pk__in=members)
        else:
            key = field.removeprefix("field:")
            lookup = "iexact" if op == "equals" else "icontains"
            queryset = queryset.filter(Q(**{f"fields__{key}__{lookup}": value}))
    return queryset

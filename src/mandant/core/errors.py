"""Errors raised by services. Views, the API and the CLI translate them into responses."""

from django.core.exceptions import ValidationError


class NotFound(Exception):
    """The object does not exist *for this actor* (never reveals other tenants' objects)."""


class PermissionDenied(Exception):
    """The actor may see the object but not perform this action on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Clashes with the current state (409): "already_member" (the person has a membership in the
# tenant), "handover_unmet" (conditions for the hand-over not met), "last_administrator"
# (a handed-over tenant keeps one), "user_deactivated", "nothing_to_resend".
CONFLICT_CODES = frozenset(
    {
        "name_taken",
        "already_member",
        "handover_unmet",
        "last_administrator",
        "user_deactivated",
        "nothing_to_resend",
        # billing: the product is active already / included in the edition / not active /
        # has no price (an operator's omission, not bad input).
        "already_active",
        "included_in_edition",
        "not_active",
        # jobs: only a stalled job may be run again.
        "not_stalled",
        "no_price",
        # campaigns: sending with an unmet checklist; pause/resume/cancel in the wrong state.
        "checklist_unmet",
        "wrong_status",
    }
)


def is_conflict(error: ValidationError) -> bool:
    """A validation error caused by a clash with existing data (the API answers 409)."""
    return any(
        err.code in CONFLICT_CODES for errs in error_list_by_field(error).values() for err in errs
    )


def error_list_by_field(error: ValidationError) -> dict[str, list[ValidationError]]:
    if hasattr(error, "error_dict"):
        return {field: list(errs) for field, errs in error.error_dict.items()}
    return {"__all__": list(error.error_list)}


def messages_by_field(error: ValidationError) -> dict[str, list[str]]:
    return {
        field: [str(message) for err in errs for message in err.messages]
        for field, errs in error_list_by_field(error).items()
    }

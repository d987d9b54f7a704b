"""The base of every API request body: a JSON object whose texts can be stored.

pydantic takes a JSON array or number for a schema whose fields are all optional (ninja reads
attributes), and passes lone surrogates and NUL characters on to the database, which refuses
them with an error (a 500). Both are the client's mistake: a 422 on the field says so.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model
from ninja import Schema
from ninja.schema import DjangoGetter
from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

# Tab, line feed and carriage return are text; other C0/C1 controls and surrogates are not.
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def _bad_characters(value: Any) -> set[str]:
    if isinstance(value, str):
        return {
            ch
            for ch in value
            if (ch < " " or "\x7f" <= ch <= "\x9f" or "\ud800" <= ch <= "\udfff")
            and ch not in _ALLOWED_CONTROLS
        }
    if isinstance(value, list | tuple):
        return set().union(*map(_bad_characters, value)) if value else set()
    if isinstance(value, dict):
        return _bad_characters(list(value)) | _bad_characters(list(value.values()))
    return set()


def bad_character_codes(value: Any) -> str:
    """ "U+0000, U+D800" for the characters of ``value`` that cannot be stored; "" for none."""
    return ", ".join(sorted(f"U+{ord(ch):04X}" for ch in _bad_characters(value)))


class Input(Schema):
    @model_validator(mode="before")
    @classmethod
    def _a_json_object(cls, data: Any) -> Any:
        # ninja's own validator has wrapped the parsed body for attribute access by now.
        raw = data._obj if isinstance(data, DjangoGetter) else data
        if not isinstance(raw, dict):
            raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
        return data

    # Before pydantic's own checks, which refuse a lone surrogate without naming it.
    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if codes := bad_character_codes(value):
            raise PydanticCustomError(
                "control_characters", "Control characters: {codes}", {"codes": codes}
            )
        return value


def max_length(model: type[Model], field: str) -> int:
    """The column width of ``model.field``, for the API field that fills it."""
    length = getattr(model._meta.get_field(field), "max_length", None)
    assert length is not None, f"{model.__name__}.{field} has no max_length"
    return int(length)


@contextmanager
def errors_renamed(names: dict[str, str]) -> Iterator[None]:
    """A service's ValidationError with its fields named as in the request (``names``: service
    field -> request field), so clients find each message under the field they sent."""
    try:
        yield
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {names.get(field, field): errors for field, errors in exc.error_dict.items()}
        ) from None

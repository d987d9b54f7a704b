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

from mandant.core.text import unstorable_codes


def bad_character_codes(value: Any) -> str:
    """The characters of a field's value (a text, or texts in a list or object) that cannot be
    stored, as "U+0000, U+D800"; "" for none."""
    if isinstance(value, str):
        return unstorable_codes(value)
    if isinstance(value, dict):
        value = [*value, *value.values()]
    if isinstance(value, list | tuple):
        return unstorable_codes("".join(v for v in value if isinstance(v, str)))
    return ""


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

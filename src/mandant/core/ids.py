"""Ids from outside (paths, bodies, forms) on their way into a query.

A value that is no integer, or outside the databases' key range, can name no row: it becomes
0 (never a primary key) so the query finds nothing, instead of a driver error (a 500).
"""

from collections.abc import Iterable
from typing import Any

# SQLite's INTEGER and PostgreSQL's bigint: the largest key either can hold.
MAX_ID = 2**63 - 1


def as_pk(value: Any) -> int:
    try:
        pk = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return pk if 0 < pk <= MAX_ID else 0


def storable_ids(values: Iterable[int]) -> list[int]:
    """The ids a table could hold, for ``pk__in``; the others are reported as not found."""
    return [pk for pk in values if 0 < pk <= MAX_ID]


class IdConverter:
    """``<id:name>`` in URLs (``{id:name}`` in the API): a key the databases can hold. A longer
    number matches no route (404) instead of reaching a query as an integer overflow."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        pk = int(value)
        if not 0 < pk <= MAX_ID:
            raise ValueError(value)  # Django: this route does not match
        return pk

    def to_url(self, value: int) -> str:
        return str(value)

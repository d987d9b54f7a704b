from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from mandant.accounts.services import apikey_authenticate
from mandant.core.actor import Actor


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer <key>``; the request then acts as the key's creator."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = apikey_authenticate(token)
        if key is None:
            return None
        request.actor = Actor(user=key.created_by, api_key=key)  # type: ignore[attr-defined]
        return key


def actor_of(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]

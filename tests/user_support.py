"""Helpers for the tests of Setup → Users, invitations, initial passwords and the hand-over."""

import json
import re
from typing import Any

from django.test import Client
from tests.worker import IMMEDIATE_TASKS  # noqa: F401 (used through this module)

from mandant.accounts.models import Membership, User
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.core.actor import Actor
from mandant.notices.models import MessageStatus, OutboundMessage

# Strong enough for the policy, unrelated to every name in the test world.
STRONG = "Lantern orbit pickle 42 tundra"
STRONG_2 = "Velvet cactus harbour 17 glacier"

INVITATION_LINK = re.compile(r"https?://[^\s]+/invitation/([A-Za-z0-9_-]+)/")
VERIFY_LINK = re.compile(r"https?://[^\s]+/verify-email/([^/\s]+)/")


def messages_to(email: str, kind: str | None = None) -> list[OutboundMessage]:
    qs = OutboundMessage.objects.filter(to_email=email).order_by("pk")
    if kind is not None:
        qs = qs.filter(kind=kind)
    return list(qs)


def last_message(email: str, kind: str | None = None) -> OutboundMessage:
    found = messages_to(email, kind)
    assert found, f"no {kind or 'mail'} to {email}"
    return found[-1]


def invitation_token(email: str) -> str:
    """The token of the newest invitation mail to ``email``, read from its text body."""
    message = last_message(email, "user.invitation")
    match = INVITATION_LINK.search(message.text_body)
    assert match, message.text_body
    return match.group(1)


def verification_token(email: str) -> str:
    message = last_message(email, "user.verify_email")
    match = VERIFY_LINK.search(message.text_body)
    assert match, message.text_body
    return match.group(1)


def was_delivered(message: OutboundMessage) -> bool:
    message.refresh_from_db()
    return message.status in (MessageStatus.SENT, MessageStatus.KEPT)


def add_member(tenant: Any, email: str, role: int = Role.VIEWER, **fields: Any) -> User:
    """A user with a membership (bootstrap, not through the services under test)."""
    olga = User.objects.get(email="olga@mandant.example")
    user = user_create(email=email, password="correct-horse-battery-staple-7", **fields)
    membership_set(actor=Actor(user=olga), tenant=tenant, user=user, role=role)
    return user


def membership(tenant: Any, user: User) -> Membership:
    return Membership.objects.get(tenant=tenant, user=user)


class Api:
    """A client that sends one bearer key with every request."""

    def __init__(self, key: str, language: str | None = None) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
        if language:
            self.headers["HTTP_ACCEPT_LANGUAGE"] = language

    def get(self, path: str) -> Any:
        return self.client.get("/api/v1" + path, **self.headers)

    def post(self, path: str, payload: object = None) -> Any:
        body = json.dumps(payload) if payload is not None else ""
        return self.client.post(
            "/api/v1" + path, body, content_type="application/json", **self.headers
        )

    def patch(self, path: str, payload: object) -> Any:
        return self.client.patch(
            "/api/v1" + path, json.dumps(payload), content_type="application/json", **self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete("/api/v1" + path, **self.headers)

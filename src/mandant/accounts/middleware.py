from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation


class UserLanguageMiddleware:
    """A logged-in user's stored language wins over cookie and browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = getattr(user, "language", "") or settings.LANGUAGE_CODE
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if user is not None and user.is_authenticated:
            response.headers.setdefault("Content-Language", translation.get_language() or "en")
        return response


# Always reachable, whatever the user still has to do.
_GATE_OPEN = frozenset({"accounts:logout", "accounts:language"})
_GATES = (
    # (condition, the only page to do it on, the pages that belong to it)
    ("must_change_password", "security:password_change", frozenset({"security:password_change"})),
    ("second_factor_setup", "security:two_factor", frozenset({"security:two_factor"})),
)


class SecurityGateMiddleware:
    """A user who must change an initial password, or must set up a second factor, can use
    nothing else (but sign out and switch the language) until it is done.

    The second-factor requirement is decided at sign-in (``security.on_user_logged_in``), so
    no request pays a query for it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        from mandant.accounts.security import SETUP_REQUIRED_SESSION_KEY

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        match = request.resolver_match
        name = match.view_name if match is not None else ""
        # The API authenticates with keys, not sessions; static files are never confined.
        if (
            name in _GATE_OPEN
            or name.startswith("api:")
            or request.path.startswith(settings.STATIC_URL or "/static/")
        ):
            return None
        pending = {
            "must_change_password": bool(getattr(user, "must_change_password", False)),
            "second_factor_setup": bool(request.session.get(SETUP_REQUIRED_SESSION_KEY)),
        }
        for condition, target, allowed in _GATES:
            if pending[condition]:
                return None if name in allowed else redirect(target)
        return None

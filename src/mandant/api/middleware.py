"""API errors that happen before a route is found stay JSON, like every other API answer."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

API_PREFIX = "/api/"


class ApiJsonErrorsMiddleware:
    """A path under /api/ that matches no route (404), or a method the route does not have
    (405), is answered by Django and ninja in HTML or plain text: give clients the API's
    ``{"detail": …}`` instead, keeping the ``Allow`` header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not request.path.startswith(API_PREFIX)
            or response.status_code not in (404, 405)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        if response.status_code == 404:
            return JsonResponse({"detail": _("Not found.")}, status=404)
        answer = JsonResponse({"detail": _("This method is not allowed here.")}, status=405)
        if "Allow" in response:
            answer["Allow"] = response["Allow"]
        return answer

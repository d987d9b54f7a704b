"""The inbound bounce endpoint: ``POST /inbound/bounces/`` with a raw DSN as the body.

Not a page of the product: the bounce mailbox's MTA (a pipe or webhook) posts each message it
receives, authenticated by ``Authorization: Bearer <BOUNCE_WEBHOOK_SECRET>``. Without the
setting the route does not exist (404).
"""

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from mandant.notices.bounces import MAX_BOUNCE_BYTES, bounce_process

# The raw message; a request without a Content-Type is taken as one too.
BODY_TYPES = ("message/rfc822", "application/octet-stream", "")


def _authorized(request: HttpRequest, secret: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), secret.encode())


def _error(status: int, error: str) -> JsonResponse:
    response = JsonResponse({"error": error}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="bounces"'
    return response


@csrf_exempt
def inbound_bounce(request: HttpRequest) -> JsonResponse:
    secret = getattr(settings, "BOUNCE_WEBHOOK_SECRET", None)
    if not secret:
        raise Http404
    if request.method != "POST":
        response = _error(405, "method_not_allowed")
        response["Allow"] = "POST"
        return response
    if not _authorized(request, secret):
        return _error(401, "unauthorized")
    if request.content_type not in BODY_TYPES:
        return _error(415, "unsupported_media_type")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BOUNCE_BYTES:
        return _error(413, "too_large")
    raw = request.read(MAX_BOUNCE_BYTES + 1)
    if len(raw) > MAX_BOUNCE_BYTES:
        return _error(413, "too_large")
    outcome = bounce_process(raw=raw)
    return JsonResponse(outcome.as_dict(), status=202)

"""Public routes for the recipients of campaign mail: no login, authorised by a signed token
alone (campaigns.tracking). A tampered or unknown token is a 404.

* ``GET /o/<token>.gif``: the open pixel (1x1 GIF), records an open;
* ``GET /c/<token>/<link>/``: records a click, 302 to the link's URL as stored for the campaign
  (never a URL from the request: no open redirect);
* ``GET /i/<token>/``: an image of the tenant, as it was when the mail was built (cached long);
* ``GET /w/<token>/``: the web version of the mail as the recipient got it.

A HEAD request (link checkers, prefetching proxies) gets the same answer but records nothing.
"""

import html as html_lib
import re

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_safe
from django_scopes import scope

from mandant.campaigns import tracking
from mandant.campaigns.message import build_campaign_message, personal_values
from mandant.campaigns.selectors import web_version_recipient
from mandant.content.image_responses import image_response
from mandant.content.models import AssetBlob
from mandant.content.selectors import mailed_image_blob_pk

# The smallest transparent GIF (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = "no-store, no-cache, must-revalidate, private"
# The web version is the sanitised mail: no scripts, nothing from other origins but images;
# links open normally. No referrer: the token must not leak to the sites it links to.
WEBVERSION_CSP = (
    "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
_META_CHARSET_RE = re.compile(r'<meta charset="[^"]*">', re.I)


def _recipient(token: str) -> tuple[int, int, int]:
    found = tracking.read_recipient_token(token)
    if found is None:
        raise Http404
    return found


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = NO_STORE
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    tenant_id, campaign_id, contact_id = _recipient(token)
    if request.method == "GET":
        tracking.event_record(
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            contact_id=contact_id,
            kind=tracking.EventKind.OPEN,
        )
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Content-Length"] = str(len(PIXEL))
    return _private(response)


@require_safe
def click(request: HttpRequest, token: str, link: int) -> HttpResponse:
    tenant_id, campaign_id, contact_id = _recipient(token)
    url = tracking.link_url(tenant_id, campaign_id, link)
    if url is None or not url.lower().startswith(("http://", "https://")):
        raise Http404
    if request.method == "GET":
        tracking.event_record(
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            contact_id=contact_id,
            kind=tracking.EventKind.CLICK,
            link_id=link,
        )
    return _private(HttpResponseRedirect(url))


@require_safe
def image(request: HttpRequest, token: str) -> HttpResponse:
    """An image of the tenant the token names, in the version (bytes) it names: only while the
    image is in that tenant's library (not in the bin) with those bytes now or in its history."""
    found = tracking.read_image_token(token)
    if found is None:
        raise Http404
    tenant_id, key, sha256 = found
    blob_pk = mailed_image_blob_pk(tenant_id=tenant_id, key=key, sha256=sha256)
    if blob_pk is None:
        raise Http404
    # The URL names the bytes: they never change.
    return image_response(
        request,
        sha256,
        lambda: AssetBlob.objects.get(pk=blob_pk),
        cache_control="public, max-age=31536000, immutable",
    )


@require_safe
def web_version(request: HttpRequest, token: str) -> HttpResponse:
    """The HTML part of the mail, personalised for the recipient the token names: from the
    content frozen when the send started (message.frozen_parts), so it reads as the mail did
    and the request writes nothing; a draft's test send shows the draft as it is now. A contact
    deleted since is a 404."""
    tenant_id, campaign_id, contact_id = _recipient(token)
    found = web_version_recipient(
        tenant_id=tenant_id, campaign_id=campaign_id, contact_id=contact_id
    )
    if found is None:
        raise Http404
    campaign, contact = found
    with scope(tenant=tenant_id):
        skeleton = build_campaign_message(campaign)
        values = personal_values(skeleton, contact)
    document = skeleton.html.fill({k: html_lib.escape(v) for k, v in values.items()})
    document = _META_CHARSET_RE.sub('<meta charset="utf-8">', document, count=1)
    response = HttpResponse(document, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = WEBVERSION_CSP
    response["X-Content-Type-Options"] = "nosniff"
    return _private(response)

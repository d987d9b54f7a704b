"""The HTTP answer for an image's bytes, shared by the library's routes and the public route
that mails use: the content hash is the ETag (a blob's bytes never change), a client that
has them gets a 304 without the bytes being read, and the bytes are never sniffed or run."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified

from mandant.content.models import AssetBlob


def image_response(
    request: HttpRequest, sha256: str, load: Callable[[], AssetBlob], *, cache_control: str
) -> HttpResponse:
    """``load`` reads the blob, only when its bytes are sent."""
    etag = f'"{sha256}"'
    if etag in request.headers.get("If-None-Match", ""):
        response: HttpResponse = HttpResponseNotModified()
    else:
        blob = load()
        response = HttpResponse(bytes(blob.data), content_type=blob.content_type)
        response["Content-Length"] = str(blob.size)
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response

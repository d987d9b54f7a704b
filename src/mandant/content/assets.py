"""Image uploads for the content library: checked like logos, but kept byte for byte.

An e-mail image must look exactly as the designer made it, so the bytes are stored as
uploaded (no lossy re-encode); Pillow still opens, verifies and fully decodes them first, and
identical bytes are stored once (``AssetBlob`` keyed by SHA-256).
"""

import hashlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from mandant.content.models import AssetBlob
from mandant.tenants.logo import open_verified_image, read_bounded

# Pillow format -> accepted file name endings and the content type served.
FORMATS: dict[str, tuple[frozenset[str], str]] = {
    "PNG": (frozenset({".png"}), "image/png"),
    "JPEG": (frozenset({".jpg", ".jpeg", ".jpe"}), "image/jpeg"),
    # JPEGs from many cameras and phones (with an MPF extension).
    "MPO": (frozenset({".jpg", ".jpeg", ".jpe"}), "image/jpeg"),
    "GIF": (frozenset({".gif"}), "image/gif"),
    "WEBP": (frozenset({".webp"}), "image/webp"),
}
ALLOWED_EXTENSIONS = frozenset().union(*(endings for endings, _type in FORMATS.values()))


@dataclass(frozen=True)
class AssetUpload:
    data: bytes
    filename: str
    # The declared size of an upload read only up to the limit (None: len(data)).
    size: int | None = None

    @classmethod
    def from_file(cls, file: IO[bytes], filename: str | None = None) -> "AssetUpload":
        data, size = read_bounded(file, settings.CONTENT_ASSET_MAX_BYTES)
        return cls(data=data, filename=filename or getattr(file, "name", "") or "", size=size)


def asset_limits_text() -> str:
    side = settings.CONTENT_ASSET_MAX_PIXELS
    return _("PNG, JPEG, GIF or WebP; at most %(w)d × %(h)d pixels and %(size)s.") % {
        "w": side,
        "h": side,
        "size": filesizeformat(settings.CONTENT_ASSET_MAX_BYTES),
    }


def _refuse(message: str, code: str) -> ValidationError:
    allowed = _("Allowed: %(limits)s") % {"limits": asset_limits_text()}
    return ValidationError({"file": ValidationError(message + " " + allowed, code=code)})


def asset_blob_for(upload: AssetUpload) -> AssetBlob:
    """The stored blob for a checked upload (an existing one for identical bytes).

    Raises ValidationError({"file": ...}) naming the limit and the actual value.
    """
    size = len(upload.data) if upload.size is None else upload.size
    if size == 0:
        raise _refuse(_("The file is empty."), "empty")
    if size > settings.CONTENT_ASSET_MAX_BYTES or len(upload.data) != size:
        raise _refuse(
            _("The file has %(bytes)s bytes (%(size)s).")
            % {"bytes": number_format(size, force_grouping=True), "size": filesizeformat(size)},
            "too_large",
        )
    extension = PurePath(upload.filename or "").suffix.lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise _refuse(
            _("Files ending in “%(ext)s” are not accepted.") % {"ext": extension or "—"},
            "extension",
        )
    side = settings.CONTENT_ASSET_MAX_PIXELS
    image = open_verified_image(upload.data, max_width=side, max_height=side, refuse=_refuse)
    image_format = image.format or ""
    endings, content_type = FORMATS[image_format]
    if extension not in endings:
        raise _refuse(
            _("The file ends in “%(ext)s” but contains a %(format)s image.")
            % {"ext": extension, "format": image_format},
            "extension_mismatch",
        )
    digest = hashlib.sha256(upload.data).hexdigest()
    existing = AssetBlob.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return AssetBlob.objects.create(
                sha256=digest,
                data=upload.data,
                content_type=content_type,
                width=image.width,
                height=image.height,
                size=len(upload.data),
            )
    except IntegrityError:
        # Another upload of the same bytes won the race: share its row.
        return AssetBlob.objects.get(sha256=digest)

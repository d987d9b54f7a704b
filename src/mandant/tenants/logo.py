"""Tenant logo intake: verify, enforce limits, re-encode as PNG without metadata."""

import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from PIL import Image, ImageFile, UnidentifiedImageError

# Pillow reports JPEGs from many cameras and phones (with an MPF extension) as "MPO".
ALLOWED_FORMATS = {"PNG", "JPEG", "MPO", "GIF", "WEBP"}
ALLOWED_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
# An animated logo is flattened to its first frame; more frames than this is refused
# before decoding (animated decompression bombs).
MAX_FRAMES = 100


def read_bounded(file: IO[bytes], limit: int | None = None) -> tuple[bytes, int]:
    """Read an upload, but never more than one byte past the limit (the rest is refused).

    ``limit`` defaults to the logo limit; content images pass their own.
    """
    declared = getattr(file, "size", None)
    if declared is None and file.seekable():
        start = file.tell()
        declared = file.seek(0, os.SEEK_END) - start
        file.seek(start)
    data = file.read((settings.LOGO_MAX_BYTES if limit is None else limit) + 1)
    return data, max(len(data), declared or 0)


@dataclass(frozen=True)
class ProcessedLogo:
    png: bytes
    width: int
    height: int
    version: str


def logo_limits_text() -> str:
    return _("PNG, JPEG, GIF or WebP; at most %(w)d × %(h)d pixels and %(size)s.") % {
        "w": settings.LOGO_MAX_WIDTH,
        "h": settings.LOGO_MAX_HEIGHT,
        "size": filesizeformat(settings.LOGO_MAX_BYTES),
    }


def _refuse(message: str, code: str) -> ValidationError:
    allowed = _("Allowed: %(limits)s") % {"limits": logo_limits_text()}
    return ValidationError(message + " " + allowed, code=code)


def process_logo(data: bytes, filename: str, size: int | None = None) -> ProcessedLogo:
    """Check an uploaded logo and return it re-encoded; raise ValidationError otherwise.

    ``size`` is the declared size of an upload whose bytes were read only up to the limit.
    """
    size = len(data) if size is None else size
    if size == 0:
        raise _refuse(_("The file is empty."), "empty")
    if size > settings.LOGO_MAX_BYTES:
        raise _refuse(
            _("The file has %(bytes)s bytes (%(size)s).")
            % {"bytes": number_format(size, force_grouping=True), "size": filesizeformat(size)},
            "too_large",
        )
    extension = PurePath(filename or "").suffix.lower()
    if extension not in ALLOWED_EXTENSIONS:
        raise _refuse(
            _("Files ending in “%(ext)s” are not accepted.") % {"ext": extension or "—"},
            "extension",
        )
    image = open_verified_image(
        data, max_width=settings.LOGO_MAX_WIDTH, max_height=settings.LOGO_MAX_HEIGHT, refuse=_refuse
    )
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    clean = image.convert("RGBA" if has_alpha else "RGB")
    out = io.BytesIO()
    # A fresh image carries no EXIF, ICC or text chunks: metadata is dropped.
    stripped = Image.new(clean.mode, clean.size)
    stripped.paste(clean)
    stripped.save(out, format="PNG", optimize=True)
    png = out.getvalue()
    return ProcessedLogo(
        png=png,
        width=stripped.width,
        height=stripped.height,
        version=hashlib.sha256(png).hexdigest()[:12],
    )


@contextmanager
def _truncated_images_refused() -> Iterator[None]:
    """Pillow's global LOAD_TRUNCATED_IMAGES must be off while we verify: WeasyPrint turns it
    on when it is imported (PDF rendering), which would let damaged uploads through."""
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def open_verified_image(
    data: bytes,
    *,
    max_width: int,
    max_height: int,
    refuse: Callable[[str, str], ValidationError],
) -> Image.Image:
    """The first frame of ``data``, fully decoded, after every check; ``refuse(message, code)``
    builds the ValidationError raised otherwise (logos and content images word it differently).

    Checks the format and dimensions from the header before decoding anything, refuses
    decompression bombs and long animations, then verifies and decodes the image completely.
    """
    max_pixels = max_width * max_height
    try:
        with warnings.catch_warnings(), _truncated_images_refused():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                image_format = probe.format or ""
                width, height = probe.size
                if image_format not in ALLOWED_FORMATS:
                    raise refuse(
                        _("The file is a %(format)s image.") % {"format": image_format},
                        "format",
                    )
                if width > max_width or height > max_height:
                    raise refuse(
                        _("The image has %(w)d × %(h)d pixels.") % {"w": width, "h": height},
                        "dimensions",
                    )
                frames = getattr(probe, "n_frames", 1)
                if frames > MAX_FRAMES:
                    raise refuse(_("The animation has %(n)d frames.") % {"n": frames}, "frames")
                probe.verify()
            # verify() leaves the image unusable: decode again, fully, to catch truncation.
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > max_pixels:
                    raise refuse(_("The image is too large."), "dimensions")
                image.seek(0)
                image.load()
                return image
    except ValidationError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise refuse(_("The image declares too many pixels."), "bomb") from exc
    except UnidentifiedImageError as exc:
        raise refuse(_("The file is not an image we can read."), "not_image") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise refuse(_("The image is damaged or incomplete."), "damaged") from exc

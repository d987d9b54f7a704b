"""Logo test files, generated in code (no binary fixtures in the repository)."""

import functools
import io
import random
import struct
import zlib

from PIL import Image, PngImagePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECRET = "SECRET-METADATA-7f3a"


def _noise(width: int, height: int, mode: str = "RGB", seed: int = 1) -> Image.Image:
    channels = len(mode)
    data = random.Random(seed).randbytes(width * height * channels)
    return Image.frombytes(mode, (width, height), data)


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def png(
    width: int = 120, height: int = 40, mode: str = "RGB", color: tuple[int, ...] = (200, 30, 30)
) -> bytes:
    return _save(Image.new(mode, (width, height), color), "PNG")


def noisy_png(width: int = 200, height: int = 80) -> bytes:
    """Incompressible pixels, so that half of the file is really half of the image data."""
    return _save(_noise(width, height), "PNG")


def png_with_text_chunks() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET)  # tEXt
    info.add_text("Author", SECRET, zip=True)  # zTXt
    info.add_itxt("Description", SECRET, lang="en", tkey="Description")  # iTXt
    return _save(Image.new("RGB", (50, 20), (1, 2, 3)), "PNG", pnginfo=info)


def jpeg(width: int = 120, height: int = 40, color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    return _save(Image.new("RGB", (width, height), color), "JPEG", quality=90)


def noisy_jpeg(width: int = 200, height: int = 80) -> bytes:
    return _save(_noise(width, height), "JPEG", quality=95)


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = SECRET  # Make
    exif[0x0110] = "Model " + SECRET  # Model
    exif[0x8298] = SECRET  # Copyright
    return _save(Image.new("RGB", (60, 30), (90, 90, 90)), "JPEG", exif=exif.tobytes())


def camera_jpeg() -> bytes:
    """A JPEG with an MPF extension (a second embedded image), as many phones write them."""
    first = Image.new("RGB", (60, 20), (200, 100, 0))
    second = Image.new("RGB", (60, 20), (0, 0, 0))
    return _save(first, "MPO", save_all=True, append_images=[second])


def gif(width: int = 120, height: int = 40) -> bytes:
    return _save(Image.new("P", (width, height), 3), "GIF")


def webp(width: int = 120, height: int = 40) -> bytes:
    return _save(Image.new("RGBA", (width, height), (0, 128, 0, 200)), "WEBP", lossless=True)


def bmp(width: int = 40, height: int = 20) -> bytes:
    return _save(Image.new("RGB", (width, height), (1, 1, 1)), "BMP")


def frame_color(index: int) -> tuple[int, int, int]:
    # Distinct colours per frame: identical frames would be merged by the GIF encoder.
    return (index % 256, (index // 256) * 40 % 256, 255 - index % 256)


def animated(frames: int, fmt: str = "GIF", size: tuple[int, int] = (8, 8)) -> bytes:
    images = [Image.new("RGB", size, frame_color(i)) for i in range(frames)]
    extra = {"lossless": True} if fmt == "WEBP" else {}  # lossy WebP merges similar frames
    return _save(
        images[0], fmt, save_all=True, append_images=images[1:], duration=40, loop=0, **extra
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


@functools.cache
def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A 1-bit greyscale PNG that declares width×height pixels but is small on disk.

    The image data is complete and valid: decoding it would really produce the image.
    """
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def png_chunk_types(data: bytes) -> list[str]:
    assert data.startswith(PNG_SIGNATURE)
    types, offset = [], len(PNG_SIGNATURE)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        types.append(data[offset + 4 : offset + 8].decode("ascii"))
        offset += 12 + length
    return types


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40">'
    b'<script>alert(1)</script><rect width="100" height="40" fill="red"/></svg>'
)

"""The logo corpus: what process_logo accepts, what it refuses, and what it says."""

import hashlib
import io
import resource
import warnings

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from PIL import Image, ImageFile

import logo_corpus as corpus
from mandant.tenants.logo import MAX_FRAMES, logo_limits_text, process_logo

CLEAN_PNG_CHUNKS = {"IHDR", "PLTE", "tRNS", "IDAT", "IEND"}


def text(message: str) -> str:
    """Django's filesizeformat joins number and unit with a no-break space."""
    return message.replace("\xa0", " ")


def refusal(data: bytes, filename: str, size: int | None = None) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        process_logo(data, filename, size)
    return info.value


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def decode_spy(monkeypatch):
    """Records the size of every image Pillow actually decodes."""
    sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self):  # type: ignore[no-untyped-def]
        sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


# --- accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "size"),
    [
        (corpus.png(120, 40), "logo.png", (120, 40)),
        (corpus.jpeg(100, 50), "logo.jpg", (100, 50)),
        (corpus.jpeg(100, 50), "LOGO.JPEG", (100, 50)),
        (corpus.gif(90, 30), "logo.gif", (90, 30)),
        (corpus.webp(64, 32), "logo.webp", (64, 32)),
        (corpus.png(300, 100), "exactly-at-the-limit.png", (300, 100)),
        (corpus.png(1, 1), "tiny.png", (1, 1)),
    ],
    ids=["png", "jpeg", "upper-case-extension", "gif", "webp", "at-limit", "1x1"],
)
def test_valid_images_are_accepted_and_re_encoded_as_png(data, filename, size):
    logo = process_logo(data, filename)

    assert logo.png.startswith(corpus.PNG_SIGNATURE)
    assert (logo.width, logo.height) == size
    image = decoded(logo.png)
    assert image.format == "PNG"
    assert image.size == size
    assert logo.version == hashlib.sha256(logo.png).hexdigest()[:12]


def test_re_encoding_is_deterministic():
    data = corpus.png(80, 20)
    assert process_logo(data, "a.png").version == process_logo(data, "b.png").version
    assert process_logo(data, "a.png").version != process_logo(corpus.png(80, 21), "a.png").version


def test_pixels_survive_re_encoding():
    logo = process_logo(corpus.jpeg(40, 20, color=(10, 120, 200)), "logo.jpg")
    r, g, b = decoded(logo.png).convert("RGB").getpixel((20, 10))
    assert abs(r - 10) <= 3 and abs(g - 120) <= 3 and abs(b - 200) <= 3


def test_transparency_is_kept_and_opaque_images_stay_opaque():
    transparent = decoded(process_logo(corpus.png(30, 10, "RGBA", (0, 0, 0, 0)), "t.png").png)
    assert transparent.mode == "RGBA"
    assert transparent.getpixel((0, 0))[3] == 0
    opaque = decoded(process_logo(corpus.jpeg(), "o.jpg").png)
    assert opaque.mode == "RGB"


def test_exif_of_a_jpeg_is_dropped():
    data = corpus.jpeg_with_exif()
    assert corpus.SECRET.encode() in data  # the corpus really carries EXIF
    assert Image.open(io.BytesIO(data)).getexif()

    logo = process_logo(data, "photo.jpg")

    assert corpus.SECRET.encode() not in logo.png
    assert set(corpus.png_chunk_types(logo.png)) <= CLEAN_PNG_CHUNKS
    image = decoded(logo.png)
    assert not image.getexif()
    assert "exif" not in image.info


def test_text_chunks_of_a_png_are_dropped():
    data = corpus.png_with_text_chunks()
    assert {"tEXt", "zTXt", "iTXt"} <= set(corpus.png_chunk_types(data))

    logo = process_logo(data, "logo.png")

    assert set(corpus.png_chunk_types(logo.png)) <= CLEAN_PNG_CHUNKS
    assert corpus.SECRET.encode() not in logo.png
    image = decoded(logo.png)
    assert not getattr(image, "text", {})


def test_camera_jpeg_with_an_mpf_extension_is_accepted_as_its_first_image():
    data = corpus.camera_jpeg()
    assert data.startswith(b"\xff\xd8")  # a JPEG file; Pillow calls the format "MPO"
    logo = process_logo(data, "photo.jpg")
    r, g, b = decoded(logo.png).convert("RGB").getpixel((30, 10))
    assert abs(r - 200) <= 3 and abs(g - 100) <= 3 and b <= 3


def test_animated_gif_with_few_frames_is_accepted_as_its_first_frame():
    data = corpus.animated(3, size=(20, 10))
    assert Image.open(io.BytesIO(data)).n_frames == 3

    logo = process_logo(data, "anim.gif")

    image = decoded(logo.png)
    assert getattr(image, "n_frames", 1) == 1
    assert image.convert("RGB").getpixel((5, 5)) == corpus.frame_color(0)


def test_animated_gif_with_exactly_the_frame_limit_is_accepted():
    data = corpus.animated(MAX_FRAMES)
    assert process_logo(data, "anim.gif").png.startswith(corpus.PNG_SIGNATURE)


# --- refused --------------------------------------------------------------------------------


def test_limits_text_states_the_configured_limits():
    assert text(logo_limits_text()) == (
        "PNG, JPEG, GIF or WebP; at most 300 × 100 pixels and 512.0 KB."
    )


@pytest.mark.parametrize(("width", "height"), [(301, 100), (300, 101), (2000, 2000)])
def test_oversize_dimensions_are_refused_stating_limit_and_actual_size(width, height):
    error = refusal(corpus.png(width, height), "big.png")

    assert error.code == "dimensions"
    message = error.messages[0]
    assert f"The image has {width} × {height} pixels." in message
    assert "at most 300 × 100 pixels" in message


def test_file_over_the_byte_limit_is_refused_stating_its_size(decode_spy):
    data = corpus.png(10, 10)
    data += b"\0" * (700 * 1024 - len(data))

    error = refusal(data, "heavy.png")

    assert error.code == "too_large"
    assert "The file has 716,800 bytes (700.0 KB)." in text(error.messages[0])
    assert "512.0 KB" in text(error.messages[0])
    assert decode_spy == []


def test_one_byte_over_the_limit_is_refused():
    data = corpus.png(10, 10)
    data += b"\0" * (512 * 1024 + 1 - len(data))
    error = refusal(data, "heavy.png")
    assert error.code == "too_large"
    # Both sizes round to 512.0 KB: the exact byte count tells them apart.
    assert "524,289 bytes" in text(error.messages[0])


def test_a_large_upload_is_read_only_up_to_the_limit(settings):
    from mandant.tenants.services import LogoUpload

    big = io.BytesIO(b"\0" * (3 * 1024 * 1024))
    upload = LogoUpload.from_file(big, "huge.png")
    assert len(upload.data) == settings.LOGO_MAX_BYTES + 1
    assert upload.size == 3 * 1024 * 1024
    error = refusal(upload.data, "huge.png", size=upload.size)
    assert "3,145,728 bytes" in text(error.messages[0])


def test_limits_come_from_settings(settings):
    settings.LOGO_MAX_WIDTH = 50
    settings.LOGO_MAX_HEIGHT = 40
    settings.LOGO_MAX_BYTES = 1000

    assert text(logo_limits_text()) == (
        "PNG, JPEG, GIF or WebP; at most 50 × 40 pixels and 1000 bytes."
    )
    message = text(refusal(corpus.png(51, 40), "wide.png").messages[0])
    assert "The image has 51 × 40 pixels." in message
    assert "at most 50 × 40 pixels and 1000 bytes" in message
    assert refusal(corpus.noisy_png(40, 40), "noisy.png").code == "too_large"
    assert process_logo(corpus.png(50, 40), "fits.png").width == 50


@pytest.mark.parametrize(("width", "height"), [(20000, 20000), (10000, 10000), (5000, 5000)])
def test_decompression_bomb_is_refused_without_decoding(decode_spy, width, height):
    data = corpus.png_bomb(width, height)
    assert len(data) < 512 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    error = refusal(data, "bomb.png")

    assert error.code in {"bomb", "dimensions"}
    assert decode_spy == []
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 * 1024


def test_bomb_is_refused_even_when_the_configured_limits_are_huge(settings, decode_spy):
    settings.LOGO_MAX_WIDTH = settings.LOGO_MAX_HEIGHT = 50000
    settings.LOGO_MAX_BYTES = 10 * 1024 * 1024

    error = refusal(corpus.png_bomb(20000, 20000), "bomb.png")

    assert error.code == "bomb"
    assert "too many pixels" in error.messages[0]
    assert decode_spy == []


def test_bomb_warning_zone_is_refused_even_where_warnings_are_ignored(settings, decode_spy):
    # 10000 × 10000 is above Pillow's warning threshold but below its hard error. In
    # production warnings are not errors (pytest is configured to make them errors), so
    # process_logo must turn the warning into a refusal itself.
    settings.LOGO_MAX_WIDTH = settings.LOGO_MAX_HEIGHT = 10000
    settings.LOGO_MAX_BYTES = 10 * 1024 * 1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = refusal(corpus.png_bomb(10000, 10000), "bomb.png")
    assert error.code == "bomb"
    assert decode_spy == []


def test_svg_is_refused():
    assert refusal(corpus.SVG, "logo.svg").code == "extension"
    assert refusal(corpus.SVG, "logo.png").code == "not_image"


@pytest.mark.parametrize(
    ("data", "filename"),
    [(corpus.noisy_png(), "cut.png"), (corpus.noisy_jpeg(), "cut.jpg")],
    ids=["png", "jpeg"],
)
def test_truncated_images_are_refused(data, filename):
    error = refusal(data[: len(data) // 2], filename)
    assert error.code == "damaged"
    assert "damaged or incomplete" in error.messages[0]


def test_png_without_its_end_is_refused():
    data = corpus.noisy_png()
    assert refusal(data[:-30], "cut.png").code == "damaged"


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("logo.txt", ".txt"),
        ("logo.exe", ".exe"),
        ("logo.png.exe", ".exe"),
        ("logo", "—"),
        ("", "—"),
        ("logo.svg", ".svg"),
    ],
)
def test_wrong_extension_is_refused_whatever_the_content(filename, shown):
    error = refusal(corpus.png(), filename)
    assert error.code == "extension"
    assert f"Files ending in “{shown}” are not accepted." in error.messages[0]


def test_zero_bytes_are_refused():
    error = refusal(b"", "logo.png")
    assert error.code == "empty"
    assert "The file is empty." in error.messages[0]


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is not an image\n" * 20,
        b"<html><body>hi</body></html>",
        b"MZ\x90\x00" + bytes(200),
        corpus.PNG_SIGNATURE,
    ],
    ids=["text", "html", "exe", "signature-only"],
)
def test_non_image_with_an_image_extension_is_refused(data):
    error = refusal(data, "logo.png")
    assert error.code in {"not_image", "damaged"}
    assert "Allowed:" in error.messages[0]


def test_other_image_formats_are_refused_naming_the_format():
    error = refusal(corpus.bmp(), "logo.png")
    assert error.code == "format"
    assert "The file is a BMP image." in error.messages[0]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_with_very_many_frames_is_refused(fmt, decode_spy):
    frames = MAX_FRAMES * 3
    data = corpus.animated(frames, fmt)
    assert Image.open(io.BytesIO(data)).n_frames == frames

    error = refusal(data, f"anim.{fmt.lower()}")

    assert error.code == "frames"
    assert f"The animation has {frames} frames." in error.messages[0]


def test_every_refusal_states_the_limits():
    for data, filename in [
        (b"", "a.png"),
        (corpus.png(), "a.txt"),
        (corpus.png(400, 10), "a.png"),
        (b"nope", "a.png"),
        (corpus.png_bomb(), "a.png"),
    ]:
        message = refusal(data, filename).messages[0]
        assert message.endswith("Allowed: " + logo_limits_text()), message


def test_refusals_are_translated():
    with translation.override("de"):
        message = refusal(b"", "logo.png").messages[0]
    assert message.startswith("Die Datei ist leer.")


def test_the_decode_spy_does_see_decoding(decode_spy):
    # Guards the "without decoding" assertions above against a spy that never fires.
    process_logo(corpus.png(30, 10), "logo.png")
    assert (30, 10) in decode_spy


def test_truncated_images_are_refused_even_after_weasyprint_is_imported():
    """WeasyPrint switches Pillow's global LOAD_TRUNCATED_IMAGES on when imported."""
    import weasyprint  # noqa: F401
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    data = corpus.noisy_jpeg()
    assert refusal(data[: len(data) // 2], "cut.jpg").code == "damaged"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for WeasyPrint

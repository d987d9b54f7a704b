"""The text of a PDF, for assertions — without a PDF library (pypdf is not a dependency).

Enough for the PDFs WeasyPrint writes: Flate-compressed streams, object streams, fonts with a
``/ToUnicode`` CMap, text shown with ``Tj``/``TJ`` as hex glyph ids after ``/Font size Tf``.
Returns the text with whitespace collapsed to single spaces.
"""

from __future__ import annotations

import re
import zlib

OBJ = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
STREAM = re.compile(rb"stream\r?\n(.*)\r?\nendstream", re.S)
REF = rb"(\d+) 0 R"


def _objects(pdf: bytes) -> dict[int, bytes]:
    """Every object's body (dictionary + decoded stream), object streams unpacked."""
    objects: dict[int, bytes] = {}
    for match in OBJ.finditer(pdf):
        number, body = int(match.group(1)), match.group(2)
        stream = STREAM.search(body)
        if stream is not None:
            head, data = body[: stream.start()], stream.group(1)
            if b"/FlateDecode" in head:
                data = zlib.decompress(data)
            objects[number] = head + b"\nstream\n" + data
            if b"/ObjStm" in head:
                objects.update(_object_stream(head, data))
        else:
            objects[number] = body
    return objects


def _object_stream(head: bytes, data: bytes) -> dict[int, bytes]:
    first_match = re.search(rb"/First (\d+)", head)
    count_match = re.search(rb"/N (\d+)", head)
    assert first_match is not None and count_match is not None
    first, count = int(first_match.group(1)), int(count_match.group(1))
    numbers = [int(n) for n in data[:first].split()]
    pairs = list(zip(numbers[0::2], numbers[1::2], strict=True))[:count]
    result = {}
    for index, (number, offset) in enumerate(pairs):
        end = pairs[index + 1][1] if index + 1 < len(pairs) else len(data) - first
        result[number] = data[first + offset : first + end]
    return result


def _cmap(data: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for lo, hi, dst in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            start = int.from_bytes(bytes.fromhex(dst.decode()), "big")
            for offset, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                mapping[code] = chr(start + offset)
    return mapping


def _fonts(objects: dict[int, bytes]) -> dict[bytes, dict[int, str]]:
    """Font resource name (e.g. b"KTGASA") -> its glyph-to-text map."""
    fonts: dict[bytes, dict[int, str]] = {}
    # Any "/Name n 0 R" whose object is a font with a ToUnicode map: the resource
    # dictionaries (direct or referenced) name the fonts this way.
    for body in objects.values():
        for name, ref in re.findall(rb"/(\w+)\s+" + REF, body):
            font = objects.get(int(ref), b"")
            if b"/Type /Font" not in font:
                continue
            to_unicode = re.search(rb"/ToUnicode " + REF, font)
            if to_unicode is not None:
                fonts[name] = _cmap(objects.get(int(to_unicode.group(1)), b""))
    return fonts


TOKEN = re.compile(rb"/(\w+)\s+[\d.]+\s+Tf|\[(.*?)\]\s*TJ|<([0-9A-Fa-f]*)>\s*Tj", re.S)


def pdf_text(pdf: bytes) -> str:
    objects = _objects(pdf)
    fonts = _fonts(objects)
    pieces: list[str] = []
    for body in objects.values():
        if b"\nstream\n" not in body or b" Tf" not in body:
            continue
        content = body.split(b"\nstream\n", 1)[1]
        mapping: dict[int, str] = {}
        for match in TOKEN.finditer(content):
            if match.group(1) is not None:
                mapping = fonts.get(match.group(1), {})
                continue
            hexes = re.findall(rb"<([0-9A-Fa-f]*)>", match.group(2) or b"") or [match.group(3)]
            text = []
            for hex_string in hexes:
                raw = bytes.fromhex(hex_string.decode())
                for index in range(0, len(raw) - 1, 2):
                    text.append(mapping.get(int.from_bytes(raw[index : index + 2], "big"), ""))
            pieces.append("".join(text))
    return " ".join(" ".join(pieces).split())

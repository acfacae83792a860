"""Real files of every source format a preview is made from, written by the tests and the
benchmark themselves: Pillow for images, pillow-heif for HEIC, PyAV for video, and PDFs."""

from __future__ import annotations

import io
import struct

import av
import pillow_heif
from PIL import Image

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 160, 0), (255, 255, 255)
ORIENTATION = 0x0112


def halves(size: tuple[int, int], left: tuple, right: tuple, mode: str = "RGB") -> Image.Image:
    """An image whose left half is one colour and right half another."""
    image = Image.new(mode, size, left)
    image.paste(Image.new(mode, (size[0] - size[0] // 2, size[1]), right), (size[0] // 2, 0))
    return image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def rotated_jpeg() -> bytes:
    """600×400 stored, left red and right blue, EXIF orientation 6: shown 400×600, red on top."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    return encoded(halves((600, 400), RED, BLUE), "JPEG", quality=95, exif=exif)


def transparent_png() -> bytes:
    """300×200, left half fully transparent, right half opaque green."""
    return encoded(halves((300, 200), (0, 0, 0, 0), (*GREEN, 255), "RGBA"), "PNG")


def animated(fmt: str = "GIF", frames: int = 3) -> bytes:
    images = [Image.new("RGB", (120, 80), colour) for colour in (RED, GREEN, BLUE)[:frames]]
    out = io.BytesIO()
    images[0].save(out, fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def heic(size: tuple[int, int] = (320, 240)) -> bytes:
    out = io.BytesIO()
    pillow_heif.from_pillow(halves(size, RED, BLUE)).save(out, format="HEIF", quality=90)
    return out.getvalue()


def video(
    seconds: float = 2.0,
    rate: int = 10,
    size: tuple[int, int] = (160, 120),
    container_format: str = "mp4",
    codec: str = "mpeg4",
) -> bytes:
    """A video whose frames go from black to red: the frame shown (at 10%) is dark."""
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        count = int(seconds * rate)
        for n in range(count):
            frame = Image.new("RGB", size, (int(255 * n / (count - 1)), 0, 0))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def frameless_video() -> bytes:
    """An mp4 with a video stream and not one frame."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
    return out.getvalue()


def pdf(size: tuple[int, int] = (300, 400)) -> bytes:
    """A one-page PDF (the page is an image, top half blue)."""
    page = Image.new("RGB", size, WHITE)
    page.paste(Image.new("RGB", (size[0], size[1] // 2), BLUE), (0, 0))
    return encoded(page, "PDF", resolution=72.0)


def encrypted_pdf() -> bytes:
    """A PDF whose trailer says it is encrypted (standard handler, an unknown password)."""
    body = pdf()
    start = body.rindex(b"startxref")
    xref_at = int(body[start + len(b"startxref") :].split()[0])
    encrypt = (
        b"99 0 obj\n<< /Filter /Standard /V 1 /R 2 /O <"
        + b"11" * 32
        + b"> /U <"
        + b"22" * 32
        + b"> /P -4 >>\nendobj\n"
    )
    where = len(body)
    size_match = body[body.rindex(b"/Size") :].split()[1]
    xref = b"xref\n99 1\n%010d 00000 n \n" % where
    new_xref = where + len(encrypt)
    trailer = (
        b"trailer\n<< /Size "
        + str(max(100, int(size_match.strip(b"/>")))).encode()
        + b" /Root 1 0 R /Prev %d /Encrypt 99 0 R /ID [<00112233445566778899aabbccddeeff> "
        b"<00112233445566778899aabbccddeeff>] >>\nstartxref\n%d\n%%%%EOF\n" % (xref_at, new_xref)
    )
    return body + encrypt + xref + trailer


def huge_png_header() -> bytes:
    """A small file declaring a 100,000 × 100,000 PNG (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _s15(v): return struct.pack(">i", round(v * 65536))

def _xyz(x, y, z): return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)

def _desc(text: str) -> bytes:
    ascii_ = text.encode() + b"\0"
    return b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 8 + b"\0" * 70

def _pad(b): return b + b"\0" * (-len(b) % 4)

def swapped_primaries_profile() -> bytes:
    """An RGB display profile (ICC v2, linear) whose red and blue primaries are swapped:
    a pixel stored as pure red is, in this profile, pure blue."""
    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, 0x0100)
    tags = [
        (b"desc", _desc("swapped primaries")),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(*blue)),
        (b"gXYZ", _xyz(*green)),
        (b"bXYZ", _xyz(*red)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + b"\0" * 4 + b"none\0"),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, data = b"", b""
    for sig, body in tags:
        body = _pad(body)
        entries += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + table_size + len(data)
    header = struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24
    header += struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + entries + data


def sources() -> dict[str, bytes]:
    """One file of every source format, by file name."""
    plain = halves((400, 300), RED, BLUE)
    return {
        "photo.jpg": rotated_jpeg(),
        "alpha.png": transparent_png(),
        "anim.gif": animated("GIF"),
        "anim.webp": animated("WEBP"),
        "photo.webp": encoded(plain, "WEBP", quality=90),
        "deep.tiff": encoded(Image.linear_gradient("L").resize((400, 300)).convert("I;16"), "TIFF"),
        "pic.bmp": encoded(plain, "BMP"),
        "pic.avif": encoded(plain, "AVIF", quality=90),
        "pic.heic": heic(),
        "clip.mp4": video(),
        "clip.mov": video(container_format="mov", codec="libx264"),
        "clip.webm": video(container_format="webm", codec="libvpx-vp9"),
        "clip.mkv": video(container_format="matroska", codec="mpeg4"),
        "doc.pdf": pdf(),
    }

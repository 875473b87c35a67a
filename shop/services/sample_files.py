"""Real sample files for the demo catalog: PDF, ZIP, WAV and text, made from scratch."""

from __future__ import annotations

import io
import math
import struct
import wave
import zipfile

from PIL import Image, ImageDraw, ImageFont

from shop.services.latin1 import to_latin1


def make_pdf(title: str, lines: list[str]) -> bytes:
    """A small valid one-page PDF 1.4 with a title and paragraphs of Helvetica text."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 22 Tf", "72 740 Td", f"({escape(title)}) Tj", "/F1 12 Tf", "0 -34 Td"]
    for line in lines:
        ops += [f"({escape(line)}) Tj", "0 -18 Td"]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def make_wav(*, seconds: float, notes: list[float], rate: int = 22_050) -> bytes:
    """A mono 16-bit WAV that plays the given frequencies in turn with soft fades."""
    frames = bytearray()
    per_note = max(1, int(seconds * rate / len(notes)))
    for frequency in notes:
        for i in range(per_note):
            fade = min(1.0, i / 800, (per_note - i) / 800)
            sample = 0.3 * fade * math.sin(2 * math.pi * frequency * i / rate)
            frames += struct.pack("<h", int(sample * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return out.getvalue()


def make_cover(title: str, subtitle: str, colors: tuple[str, str]) -> bytes:
    """A 960×640 WebP cover: a diagonal gradient with the title set on it."""
    # Pillow's built-in font has no curly quotes or long dashes: they would print as boxes.
    title, subtitle = to_latin1(title), to_latin1(subtitle)
    width, height = 960, 640
    start = tuple(int(colors[0][i : i + 2], 16) for i in (1, 3, 5))
    end = tuple(int(colors[1][i : i + 2], 16) for i in (1, 3, 5))
    gradient = Image.linear_gradient("L").resize((width, height)).rotate(-30, expand=False)
    image = Image.composite(
        Image.new("RGB", (width, height), end), Image.new("RGB", (width, height), start), gradient
    )
    draw = ImageDraw.Draw(image)
    try:
        title_font = ImageFont.load_default(size=54)
        small_font = ImageFont.load_default(size=28)
    except TypeError:  # Pillow built without FreeType
        title_font = small_font = ImageFont.load_default()
    draw.rounded_rectangle((48, 48, width - 48, height - 48), radius=28, outline="white", width=3)
    words, lines, current = title.split(), [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=title_font) > width - 160:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    y = height // 2 - 40 * len(lines)
    for line in lines:
        draw.text((88, y), line, fill="white", font=title_font)
        y += 66
    draw.text((88, y + 18), subtitle, fill=(255, 255, 255), font=small_font)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()

"""Text for places that only draw Latin-1 (the PDF's built-in fonts, Pillow's built-in font).

Typographic dashes, quotes and the ellipsis become their plain forms; any other character
outside Latin-1 its closest Latin-1 form, or "?" when there is none — never a failure or a box.
"""

from __future__ import annotations

import unicodedata

_PLAIN = str.maketrans({"—": "-", "–": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "..."})


def to_latin1(text: str) -> str:
    text = text.translate(_PLAIN)
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(
            c if ord(c) < 256 else "?" for c in decomposed if not unicodedata.combining(c)
        )

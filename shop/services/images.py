"""Product images: checked by content, re-encoded, resized to a thumbnail and a large WebP.

Only what Pillow identifies as PNG, JPEG or WebP from the bytes themselves is accepted (a
renamed text file called `.png` is refused); re-encoding drops metadata (EXIF, GPS) and
anything smuggled after the image data. The files go to the public media folder under
`products/`, named by product id and a random token, so a new upload never reuses a URL
that caches may still hold.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from shop.services.errors import InvalidInput
from shop.settings import get_settings

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP"}
WEBP_QUALITY = 82


@dataclass(frozen=True, slots=True)
class ProductImages:
    large_path: str  # relative to the media folder, served at /media/<path>
    thumbnail_path: str
    width: int
    height: int


def _open_checked(source: IO[bytes]) -> Image.Image:
    settings = get_settings()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=sorted(ACCEPTED_FORMATS))
            if image.format not in ACCEPTED_FORMATS:
                raise InvalidInput("The image must be PNG, JPEG or WebP.", field="file")
            if image.width * image.height > settings.image_max_pixels:
                raise InvalidInput(
                    f"The image is too large ({image.width}×{image.height} pixels).", field="file"
                )
            if image.format == "JPEG":
                # Decode a big JPEG at a reduced scale that still covers the large version.
                image.draft("RGB", (settings.image_large_px, settings.image_large_px))
            image.load()
    except InvalidInput:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow stops before decoding when the header declares more pixels than its own
        # limit: the file is an image, only far too large.
        raise InvalidInput(
            f"The image is too large (more than {settings.image_max_pixels:,} pixels).",
            field="file",
        ) from None
    except UnidentifiedImageError:
        raise InvalidInput(
            "The file is not a PNG, JPEG or WebP image.", field="file", code="unsupported_image"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(
            f"The image could not be read ({exc.__class__.__name__}).",
            field="file",
            code="unsupported_image",
        ) from None
    return image


def _prepared(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    return image.convert("RGB")


def _save_webp(image: Image.Image, box: int, path: Path) -> None:
    copy = image.copy()
    copy.thumbnail((box, box), Image.Resampling.LANCZOS)
    partial = path.with_name(path.name + ".part")
    copy.save(partial, format="WEBP", quality=WEBP_QUALITY, method=4)
    partial.replace(path)


def store_product_image(source: IO[bytes], *, product_id: int) -> ProductImages:
    """Check, re-encode and resize an uploaded image; returns the two media paths."""
    settings = get_settings()
    with _open_checked(source) as original:
        image = _prepared(original)
    token = secrets.token_urlsafe(9)
    large = f"products/{product_id}-{token}-large.webp"
    thumb = f"products/{product_id}-{token}-thumb.webp"
    root = settings.media_dir()
    (root / "products").mkdir(parents=True, exist_ok=True)
    _save_webp(image, settings.image_large_px, root / large)
    _save_webp(image, settings.image_thumbnail_px, root / thumb)
    return ProductImages(
        large_path=large, thumbnail_path=thumb, width=image.width, height=image.height
    )


def remove_media(paths: list[str]) -> None:
    root = get_settings().media_dir().resolve()
    for relative in paths:
        path = (root / relative).resolve()
        if root in path.parents:
            path.unlink(missing_ok=True)

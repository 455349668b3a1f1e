"""Raster documents (PNG, JPEG, TIFF): header checks before decoding, then pages one by one.

A frame whose EXIF (or TIFF) Orientation tag says it is stored rotated or mirrored, as phone
cameras store portrait shots, is turned upright with Pillow's ``ImageOps.exif_transpose``
before anything reads it.

Pillow reads only the header on ``Image.open``; the pixel limit is checked there, on the
declared size, so a decompression bomb is refused before a single row is inflated. Pillow's own
bomb guard (``Image.MAX_IMAGE_PIXELS``) stays on as a second line; its warning and error both
become :class:`BadPayload`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from runtime.errors import BadPayload
from runtime.ocr.results import OcrLimits, PageText

_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_ORIENTATION_TAG = 0x0112  # EXIF / TIFF Orientation: 1 is upright, 2..8 a turn or mirror


def upright(frame: Image.Image) -> Image.Image:
    """Return a decoded frame turned as its EXIF Orientation tag says (the frame itself if
    the tag is absent or 1); mirrored orientations (2, 4, 5, 7) are undone too."""
    if frame.getexif().get(_ORIENTATION_TAG, 1) in (None, 1):
        return frame
    turned = ImageOps.exif_transpose(frame)
    return frame if turned is None else turned


@dataclass
class SourcePage:
    """One page ready for OCR: an image to read, or text already there (a PDF text layer),
    or both when the text layer is in ``doubt`` (why, see ``runtime.ocr.text_layer``) and the
    image must be read and compared with it."""

    number: int
    image: Image.Image | None = None
    text: PageText | None = None
    doubt: str | None = None


def align_pillow_bomb_limit(limits: OcrLimits) -> None:
    """Raise Pillow's bomb threshold to our pixel limit if it is lower, never disable it.

    Our own check runs on every page; Pillow's must not refuse (or warn about) a page our
    limit allows. This is process-wide, so it only ever moves the threshold up.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < limits.max_pixels:
        Image.MAX_IMAGE_PIXELS = limits.max_pixels


def _check_pixels(size: tuple[int, int], limits: OcrLimits, where: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise BadPayload(f"{where} has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise BadPayload(
            f"{where} is {width}x{height} = {width * height} pixels, over the limit of "
            f"{limits.max_pixels} (possible decompression bomb)"
        )


class ImagePages:
    """A checked raster document; frames are decoded one at a time as pages are taken."""

    def __init__(self, data: bytes, limits: OcrLimits, media_type: str) -> None:
        if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone turned it on; a truncated scan must fail
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        kind = media_type.split("/")[1].upper()
        try:
            self._image = Image.open(io.BytesIO(data))
            self.page_count = getattr(self._image, "n_frames", 1)
        except _BOMB as exc:
            raise BadPayload(f"{kind} image is too large to decode safely ({exc})") from None
        except UnidentifiedImageError:
            raise BadPayload(f"{kind} image is corrupt: its header cannot be read") from None
        except MemoryError:
            raise
        except Exception as exc:  # Pillow raises many types for broken headers
            raise BadPayload(f"{kind} image is corrupt ({exc})") from None
        self._kind = kind
        if self.page_count > limits.max_pages:
            raise BadPayload(
                f"{kind} image has {self.page_count} pages, over the limit of {limits.max_pages}"
            )
        for index in range(self.page_count):
            self._seek(index)
            where = f"{kind} page {index + 1}" if self.page_count > 1 else f"{kind} image"
            _check_pixels(self._image.size, limits, where)
        self._seek(0)

    def _seek(self, index: int) -> None:
        if index == 0 and self.page_count == 1:
            return
        try:
            self._image.seek(index)
        except MemoryError:
            raise
        except Exception as exc:
            raise BadPayload(f"{self._kind} page {index + 1} is corrupt ({exc})") from None

    def _decode(self, number: int) -> Image.Image:
        try:
            self._image.load()
            frame = upright(self._image)
            if frame.mode in ("RGBA", "LA", "PA") or (
                frame.mode == "P" and "transparency" in frame.info
            ):
                # Transparent pixels are paper, not ink: flatten onto white.
                rgba = frame.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(background, rgba).convert("L")
            return frame.convert("L")
        except _BOMB as exc:
            raise BadPayload(f"{self._kind} image is too large to decode safely ({exc})") from None
        except MemoryError:
            raise
        except Exception as exc:
            where = f"page {number}" if self.page_count > 1 else "image data"
            raise BadPayload(f"{self._kind} {where} is truncated or corrupt ({exc})") from None

    def pages(self) -> Iterator[SourcePage]:
        """Yield each frame as an upright grayscale page."""
        for index in range(self.page_count):
            self._seek(index)
            yield SourcePage(number=index + 1, image=self._decode(index + 1))

    def close(self) -> None:
        """Release the decoder."""
        self._image.close()

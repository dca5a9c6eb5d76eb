"""Lazy images: a real-data row holds where its image is and how to resize it, not the decoded pixels.

Why: building the rows of COCO train (118k images) or a 100k-row PixMo split used to decode and resize every
image up front, so memory grew with the dataset (a 640x480 RGB image is ~0.9 MB decoded). Listing, splitting,
subsetting and validating annotations only needs each image's *size*, which PIL reads from the file header
without decoding the pixels. A :class:`LazyImage` keeps the source (a file, or bytes embedded in a Parquet file)
and the target size; :meth:`LazyImage.load` decodes, converts to RGB and resizes on each access and keeps
nothing, so a consumer that works batch by batch (evaluation, ``pr1bench data check``) holds one batch of pixels.

A file that passes the header check but fails to decode later (a truncated download) raises
:class:`ImageLoadError` naming the file and the fix; ``pr1bench data check`` decodes every image to find those
before a run does.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from pr1bench.data.real.records import BadRow, EmbeddedImage


class ImageLoadError(RuntimeError):
    """An image that looked fine when the rows were built could not be decoded when it was used."""


def _open(source: Path | EmbeddedImage) -> Image.Image:
    if isinstance(source, EmbeddedImage):
        return Image.open(io.BytesIO(source.read()))
    return Image.open(source)


def image_size(source: Path | EmbeddedImage) -> tuple[int, int]:
    """``(width, height)`` from the image header only (no pixel decode); :class:`BadRow` if unreadable."""
    try:
        with _open(source) as im:
            return int(im.width), int(im.height)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise BadRow(f"unreadable image {source}: {e}",
                     fix="re-download or replace the image file, or remove the row") from None


def decode(source: Path | EmbeddedImage) -> Image.Image:
    """Decode fully as RGB (transparent pixels over white); :class:`BadRow` if unreadable."""
    try:
        with _open(source) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                out = Image.new("RGB", rgba.size, (255, 255, 255))
                out.paste(rgba, mask=rgba.getchannel("A"))
                return out
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise BadRow(f"unreadable image {source}: {e}",
                     fix="re-download or replace the image file, or remove the row") from None


class LazyImage:
    """Where an image is and the size the model sees; decoded (and resized) only by :meth:`load`.

    Attributes:
        source: the image file, or an :class:`EmbeddedImage` in a Parquet file.
        size: ``(width, height)`` after the resize (what :meth:`load` returns).
        original_size: the file's own size, checked again on load (a file replaced since is an error).
    """

    is_lazy_image = True  # duck-typing flag read by pr1bench.dataset.Row (no import needed there)
    __slots__ = ("original_size", "size", "source")

    def __init__(self, source: Path | EmbeddedImage, size: tuple[int, int], original_size: tuple[int, int]):
        self.source, self.size, self.original_size = source, size, original_size

    def __repr__(self) -> str:
        return f"LazyImage({self.source}, {self.size[0]}x{self.size[1]})"

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def load(self) -> Image.Image:
        """The RGB image at :attr:`size` (bicubic, as the Qwen2-VL processor resizes)."""
        try:
            image = decode(self.source)
        except BadRow as e:
            raise ImageLoadError(f"{e}. Fix: {e.fix}; `pr1bench data check TASK` decodes every image to find "
                                 "such files before a run") from None
        if image.size != self.original_size:
            raise ImageLoadError(f"{self.source} is {image.width}x{image.height} but was "
                                 f"{self.original_size[0]}x{self.original_size[1]} when the rows were built. "
                                 "Fix: do not change image files during a run")
        if image.size != self.size:
            image = image.resize(self.size, Image.Resampling.BICUBIC)
        return image


def materialize_image(value: Any) -> Any:
    """``value`` decoded when it is a :class:`LazyImage`, unchanged otherwise (PIL images, None)."""
    return value.load() if getattr(type(value), "is_lazy_image", False) else value

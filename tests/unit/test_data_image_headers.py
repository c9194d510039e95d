"""image_headers reads the size PIL reads, or declines (None) and leaves the image to PIL."""

import io

import numpy as np
import pytest
from PIL import Image

from image_classifier.data import image_headers


def encoded(image_format, width, height, **options):
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("width, height", [(8, 8), (33, 17), (300, 2000)])
@pytest.mark.parametrize(
    "image_format, options",
    [("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("JPEG", {"exif": b"Exif\x00\x00" + bytes(40)})],
)
def test_png_and_jpeg_sizes_are_the_ones_pil_reads(image_format, options, width, height):
    data = encoded(image_format, width, height, **options)
    assert image_headers.size(data) == Image.open(io.BytesIO(data)).size == (width, height)


@pytest.mark.parametrize(
    "data", [encoded("BMP", 8, 8), b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n" + bytes(8), b"\xff\xd8\x00\x00garbage"]
)
def test_other_formats_and_broken_headers_are_left_to_pil(data):
    assert image_headers.size(data) is None

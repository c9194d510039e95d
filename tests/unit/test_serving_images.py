"""Any image Pillow reads becomes the model's channels; the pixel limit is checked before decoding."""

import io
import re
import struct
import subprocess
import sys
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from image_classifier.serving import images
from image_classifier.serving.errors import BadRequest, PayloadTooLarge
from image_classifier.serving.settings import MB, ImageLimits

LIMIT = ImageLimits(max_pixels=10_000_000, max_decoded_bytes=64 * MB)
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)


@pytest.mark.slow
def test_serving_never_imports_gluoncv():
    code = (
        "import sys, image_classifier.serving.app, image_classifier.serving.launcher; print('gluoncv' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def encoded(image, format_, **options):
    buffer = io.BytesIO()
    image.save(buffer, format_, **options)
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_sixteen_bit(samples):
    """A 16-bit grayscale (H x W) or RGB (H x W x 3) PNG, as scanners and cameras write them."""
    height, width = samples.shape[:2]
    colour_type = 2 if samples.ndim == 3 else 0
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0))
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in samples)
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


def png_header_only(width, height):
    """A PNG that declares width x height RGB pixels and holds almost none of them."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")


def test_rgb_png_is_exact():
    assert np.array_equal(images.decode(encoded(Image.fromarray(RGB), "PNG"), 3, LIMIT), RGB)


@pytest.mark.parametrize(
    "mode, options",
    [
        ("L", {}),
        ("LA", {}),
        ("P", {}),
        ("P", {"transparency": 0}),
        ("RGBA", {}),
        ("1", {}),
    ],
)
def test_modes_become_rgb_with_their_colours(mode, options):
    image = Image.fromarray(RGB).convert(mode)
    expected = np.asarray(image.convert("RGB"))
    assert np.array_equal(images.decode(encoded(image, "PNG", **options), 3, LIMIT), expected)


def test_alpha_is_dropped_not_blended():
    rgba = np.dstack([RGB, np.zeros(RGB.shape[:2], np.uint8)])
    assert np.array_equal(images.decode(encoded(Image.fromarray(rgba), "PNG"), 3, LIMIT), RGB)


def test_grayscale_model_gets_luma():
    decoded = images.decode(encoded(Image.fromarray(RGB), "PNG"), 1, LIMIT)
    luma = RGB @ np.array([0.299, 0.587, 0.114])
    assert decoded.shape == RGB.shape[:2]
    assert np.abs(decoded - luma).max() <= 1


def test_cmyk_jpeg_becomes_rgb():
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 200
    decoded = images.decode(encoded(Image.fromarray(red).convert("CMYK"), "JPEG", quality=95), 3, LIMIT)
    assert np.abs(decoded.astype(int) - red).max() <= 8


def test_sixteen_bit_grayscale_keeps_the_high_byte():
    samples = RNG.integers(0, 65536, (8, 9), dtype=np.uint16)
    decoded = images.decode(png_sixteen_bit(samples), 3, LIMIT)
    assert np.array_equal(decoded, np.dstack([samples >> 8] * 3))


def test_sixteen_bit_colour_keeps_the_high_byte():
    samples = RNG.integers(0, 65536, (8, 9, 3), dtype=np.uint16)
    decoded = images.decode(png_sixteen_bit(samples), 3, LIMIT)
    assert np.array_equal(decoded, samples >> 8)


def test_float_tiff_is_clipped():
    samples = np.array([[-5.0, 0.0, 100.4, 300.0]], np.float32)
    decoded = images.decode(encoded(Image.fromarray(samples, "F"), "TIFF"), 1, LIMIT)
    assert decoded.tolist() == [[0, 0, 100, 255]]


def test_exif_orientation_is_applied():
    stored = np.zeros((20, 40, 3), np.uint8)  # wide: red left half, blue right half
    stored[:, :20, 0] = 255
    stored[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the left half ends up on top
    decoded = images.decode(encoded(Image.fromarray(stored), "JPEG", quality=95, exif=exif), 3, LIMIT)
    assert decoded.shape == (40, 20, 3)
    assert decoded[:18, :, 0].min() > 200 and decoded[:18, :, 2].max() < 50
    assert decoded[22:, :, 2].min() > 200 and decoded[22:, :, 0].max() < 50


def test_animation_uses_its_first_frame():
    frames = [Image.fromarray(np.full((6, 6, 3), value, np.uint8)) for value in (10, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert images.decode(buffer.getvalue(), 3, LIMIT).max() < 50


def test_huge_declared_size_is_refused_without_allocating():
    body = png_header_only(100_000, 100_000)
    tracemalloc.start()
    with pytest.raises(PayloadTooLarge, match="more than the 10000000 that IMAGE_CLASSIFIER_MAX_PIXELS allows"):
        images.decode(body, 3, LIMIT)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000


def test_pixel_limit_names_the_size():
    with pytest.raises(PayloadTooLarge, match="The image is 5000x3000 pixels, more than the 10000000"):
        images.decode(png_header_only(5000, 3000), 3, LIMIT)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "The image is empty"),
        (RNG.bytes(3000), "not an image this endpoint reads"),
        (encoded(Image.fromarray(RGB), "PNG")[:60], "could not be decoded|header is damaged"),
        (encoded(Image.fromarray(RGB), "JPEG")[:400], "could not be decoded|header is damaged"),
        (png_header_only(30, 30), "could not be decoded"),
    ],
)
def test_undecodable_bodies_are_bad_requests(body, message):
    with pytest.raises(BadRequest, match=message):
        images.decode(body, 3, LIMIT)


@pytest.mark.parametrize("shape", [(12, 20), (12, 20, 1), (12, 20, 3), (12, 20, 4)])
def test_arrays_become_the_models_channels(shape):
    array = RNG.integers(0, 256, shape, dtype=np.uint8)
    rgb = images.from_array(array, 3, LIMIT)
    assert rgb.shape == (12, 20, 3)
    if len(shape) == 3 and shape[2] >= 3:
        assert np.array_equal(rgb, array[..., :3])
    assert images.from_array(array, 1, LIMIT).shape == (12, 20)


@pytest.mark.parametrize("shape", [(12,), (12, 20, 2), (12, 20, 5), (0, 20, 3), (2, 12, 20, 3)])
def test_arrays_of_other_shapes_are_refused(shape):
    with pytest.raises(BadRequest, match="A uint8 array must be one image"):
        images.from_array(np.zeros(shape, np.uint8), 3, LIMIT)


def test_arrays_obey_the_pixel_limit():
    with pytest.raises(PayloadTooLarge, match="20x12 pixels"):
        images.from_array(np.zeros((12, 20), np.uint8), 3, ImageLimits(100, 64 * MB))


def peak_allocation(function):
    """What ``function`` raises or returns, and the most memory it held at once."""
    tracemalloc.start()
    try:
        outcome = function()
    except Exception as error:
        outcome = error
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, peak


@pytest.mark.parametrize(
    "samples, channels, message",
    [
        (np.zeros((2048, 1024), np.uint16), 1, r"takes 4 MB decoded \(1024x2048 pixels of 2 bytes\)"),
        (np.zeros((2048, 1024), np.uint16), 3, r"takes 6 MB decoded \(1024x2048 pixels of 3 bytes\)"),
        (np.zeros((1024, 1024, 4), np.uint8), 3, r"takes 4 MB decoded \(1024x1024 pixels of 4 bytes\)"),
        (np.zeros((2048, 1536), np.uint8), 3, r"takes 9 MB decoded \(1536x2048 pixels of 3 bytes\)"),
    ],
)
def test_decoded_bytes_are_bounded_from_the_header(samples, channels, message):
    """Pixels x channels x bytes per sample (at least the model's channels, which a conversion makes)."""
    body = png_sixteen_bit(samples) if samples.dtype == np.uint16 else encoded(Image.fromarray(samples), "PNG")
    error, peak = peak_allocation(lambda: images.decode(body, channels, ImageLimits(10_000_000, 2 * MB)))
    assert isinstance(error, PayloadTooLarge)
    assert re.search(message + ", more than the 2 MB that IMAGE_CLASSIFIER_MAX_DECODED_MB allows", str(error))
    assert peak < 1_000_000


def test_sixteen_bit_decoding_takes_a_small_multiple_of_the_decoded_size():
    """The 16-bit to 8-bit step once took 8 bytes per sample (int64): 763 MB for a 97 KB 7071x7071 PNG."""
    samples = RNG.integers(0, 65536, (1000, 1000), dtype=np.uint16)
    body = png_sixteen_bit(samples)
    decoded, peak = peak_allocation(lambda: images.decode(body, 3, LIMIT))
    assert np.array_equal(decoded[..., 0], samples >> 8)
    assert peak < 6.5 * 1000 * 1000  # numpy: 2 (16-bit, shifted in place) + 1 (8-bit) + 3 (RGB) bytes per pixel

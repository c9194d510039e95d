"""One image to the HxWxC uint8 array, with the model's C channels, that the validation transform takes.

Encoded images are opened with Pillow, which reads only the header first: the pixel count, and the bytes the
image takes decoded (pixels x channels x bytes per sample, at least the model's channels), are checked
against the limits before any pixel is decoded, so a 100000x100000 PNG costs a few bytes, not 30 GB, and
a 97 KB 16-bit 7071x7071 PNG is weighed as the 143 MB it takes as RGB.
Then the EXIF orientation is applied (as a phone's camera meant it), and every mode becomes RGB (or L for
one-channel models): grayscale, palette, CMYK, YCbCr, with alpha dropped as OpenCV's decoder drops it in
training. 16-bit samples keep their high byte, as OpenCV's 8-bit decode does (and as Pillow already does
for 16-bit colour PNGs); float images are clipped to 0..255. Only the first frame of an animation is used.
A truncated image is refused, as long as Pillow's global LOAD_TRUNCATED_IMAGES stays off: gluoncv turns it
on when imported, so the serving code never imports gluoncv.
"""

import io

import numpy as np
from PIL import Image, ImageMode, ImageOps, UnidentifiedImageError

from .errors import BadRequest, PayloadTooLarge
from .settings import MB, PILLOW_MAX_PIXELS, ImageLimits

FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _too_large(size, max_pixels):
    return PayloadTooLarge(
        f"The image is {size} pixels, more than the {max_pixels} that IMAGE_CLASSIFIER_MAX_PIXELS allows; "
        f"send a smaller image"
    )


def _check_size(width, height, max_pixels):
    if width * height > max_pixels:
        raise _too_large(f"{width}x{height}", max_pixels)


def _check_decoded_bytes(image, channels, max_decoded_bytes):
    """Pixels x channels x bytes per sample, or x the model's channels when converting to them takes more."""
    mode = ImageMode.getmode(image.mode)
    pixel_bytes = max(len(mode.bands) * np.dtype(mode.typestr).itemsize, channels)
    decoded = image.width * image.height * pixel_bytes
    if decoded > max_decoded_bytes:
        raise PayloadTooLarge(
            f"The image takes {decoded / MB:.0f} MB decoded ({image.width}x{image.height} pixels of {pixel_bytes} "
            f"bytes), more than the {max_decoded_bytes / MB:.0f} MB that IMAGE_CLASSIFIER_MAX_DECODED_MB allows; "
            f"send a smaller image"
        )


def _eight_bit(image):
    if image.mode in SIXTEEN_BIT_MODES:
        samples = np.array(image)  # one writable copy, shifted in place
        if samples.dtype.itemsize > 2:  # mode I: 32-bit signed samples
            np.clip(samples, 0, 65535, out=samples)
        np.right_shift(samples, 8, out=samples)
        return Image.fromarray(samples.astype(np.uint8))
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8))
    return image


def _with_channels(image, channels):
    image = _eight_bit(image)
    target = "L" if channels == 1 else "RGB"
    if image.mode == "L" and target == "RGB":  # as Pillow's conversion, without its 4-byte RGB copy
        return np.repeat(np.asarray(image)[:, :, None], 3, axis=2)
    if image.mode != target:
        image = image.convert(target)
    return np.asarray(image)


def decode(encoded: bytes, channels: int, limits: ImageLimits) -> np.ndarray:
    """An encoded image (JPEG, PNG, GIF, BMP, TIFF, WebP, PPM) to HxWxC (HxW for one channel) uint8."""
    if not encoded:
        raise BadRequest("The image is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(encoded), formats=FORMATS)
    except UnidentifiedImageError:
        raise BadRequest(f"The body is not an image this endpoint reads ({', '.join(FORMATS)})") from None
    except Image.DecompressionBombError:  # Pillow's own limit, which IMAGE_CLASSIFIER_MAX_PIXELS stays under
        raise _too_large(f"over {PILLOW_MAX_PIXELS}", limits.max_pixels) from None
    except Exception as error:  # Pillow raises several types for a header it recognises but cannot parse
        raise BadRequest(f"The image header is damaged ({type(error).__name__}: {error})") from None
    _check_size(*image.size, limits.max_pixels)
    _check_decoded_bytes(image, channels, limits.max_decoded_bytes)
    try:
        ImageOps.exif_transpose(image, in_place=True)
        return _with_channels(image, channels)
    except Exception as error:  # truncated or corrupt data, in whichever way the format's decoder reports it
        raise BadRequest(f"The image could not be decoded ({type(error).__name__}: {error})") from None


def from_array(array: np.ndarray, channels: int, limits: ImageLimits) -> np.ndarray:
    """An HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA) uint8 array to the model's channels."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or 0 in array.shape:
        raise BadRequest(
            f"A uint8 array must be one image, HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA), not shape {array.shape}"
        )
    _check_size(array.shape[1], array.shape[0], limits.max_pixels)
    return _with_channels(Image.fromarray(np.ascontiguousarray(array)), channels)

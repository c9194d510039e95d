"""Decode, resize and encode images without the cv2 module: Pillow, and MXNet's own OpenCV for resizing.

MXNet's OpenCV is the one ``ImageRecordIter`` resizes with in training, so serving and packing resize
exactly as training does; and the image needs none of the desktop libraries (libGL) cv2 loads. Decoding is
Pillow's: MXNet's ``imdecode`` runs asynchronously and reports some invalid images late or not at all.
"""

import io

import mxnet as mx
import numpy as np
from PIL import Image

JPEG_QUALITY = 95
BILINEAR = 1  # OpenCV's INTER_LINEAR, ImageRecordIter's inter_method=1


def decode_rgb(data: bytes) -> np.ndarray | None:
    """Encoded bytes to an HxWx3 uint8 RGB array; None when they do not decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # OSError: unidentified, truncated
        return None


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """An HxWxC (or HxW) uint8 array resized to ``height`` x ``width`` x C, bilinear."""
    image = image if image.ndim == 3 else image[:, :, None]
    return mx.image.imresize(mx.nd.array(image, dtype=np.uint8), width, height, interp=BILINEAR).asnumpy()


def resize_shorter_side(image: np.ndarray, shorter: int) -> np.ndarray:
    """The image resized so that its shorter side is ``shorter`` pixels, as ``ImageRecordIter``'s ``resize`` does.

    The longer side keeps the aspect ratio, truncated to an integer (MXNet's image_aug_default.cc); bilinear.
    """
    rows, cols = image.shape[:2]
    if rows > cols:
        return resize(image, shorter, shorter * rows // cols)
    return resize(image, shorter * cols // rows, shorter)


def encode(image: np.ndarray, image_format: str) -> bytes:
    """An HxWx3 uint8 RGB array as JPEG (quality 95) or PNG (fast compression) bytes."""
    out = io.BytesIO()
    if image_format == "JPEG":
        Image.fromarray(image).save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        Image.fromarray(image).save(out, "PNG", compress_level=1)
    return out.getvalue()

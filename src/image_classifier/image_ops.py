"""Decode, resize and encode images without the cv2 module: MXNet's own OpenCV, and Pillow.

MXNet's OpenCV is the one ``ImageRecordIter`` decodes and resizes with in training, so serving and packing
resize exactly as training does; and the image needs none of the desktop libraries (libGL) cv2 loads.
"""
import io

import mxnet as mx
import numpy as np
from mxnet.base import MXNetError
from PIL import Image

JPEG_QUALITY = 95
BILINEAR = 1  # OpenCV's INTER_LINEAR, ImageRecordIter's inter_method=1


def decode_rgb(data):
    """Encoded bytes to an HxWx3 uint8 RGB array; None when they do not decode."""
    try:
        return mx.image.imdecode(data, flag=1, to_rgb=1).asnumpy()
    except MXNetError:
        return None


def resize(image, width, height):
    """An HxWxC (or HxW) uint8 array resized to ``height`` x ``width`` x C, bilinear."""
    image = image if image.ndim == 3 else image[:, :, None]
    return mx.image.imresize(mx.nd.array(image, dtype=np.uint8), width, height, interp=BILINEAR).asnumpy()


def encode(image, image_format):
    """An HxWx3 uint8 RGB array as JPEG (quality 95) or PNG (fast compression) bytes."""
    out = io.BytesIO()
    if image_format == "JPEG":
        Image.fromarray(image).save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        Image.fromarray(image).save(out, "PNG", compress_level=1)
    return out.getvalue()

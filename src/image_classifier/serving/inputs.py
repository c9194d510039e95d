"""One image of a request to the model's CxHxW float32 input, through the training's validation transform.

That transform (``Preprocessing.apply``) is used as it is. Two kinds of image it was never given in
training are answered here instead: one smaller than the crop when the model has no ``resize`` (training
rejects those too), and one so elongated that resizing its shorter side would blow it up past the pixel
limit (a 1x50000000 strip resized to a shorter side of 256 would be 3.2 trillion pixels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import images
from .errors import BadRequest, PayloadTooLarge
from .settings import ImageLimits

if TYPE_CHECKING:
    from ..model.preprocessing import Preprocessing


def _check_transformable(height, width, preprocessing, max_pixels):
    _channels, crop_height, crop_width = preprocessing.image_shape
    if preprocessing.crop == "squash":
        return
    if preprocessing.resize:
        shorter, longer = sorted((height, width))
        resized_pixels = preprocessing.resize * (preprocessing.resize * longer // shorter)
        if resized_pixels > max_pixels:
            raise PayloadTooLarge(
                f"The image is {width}x{height} pixels: resized to a shorter side of {preprocessing.resize} it "
                f"would have {resized_pixels} pixels, more than IMAGE_CLASSIFIER_MAX_PIXELS ({max_pixels})"
            )
    elif height < crop_height or width < crop_width:
        raise BadRequest(
            f"The image is {width}x{height} pixels, smaller than the model's {crop_width}x{crop_height} input "
            f"(it was trained without resize); send an image at least that large"
        )


def model_input(item: bytes | np.ndarray, preprocessing: Preprocessing, limits: ImageLimits) -> np.ndarray:
    """An encoded image (bytes), a uint8 pixel array, or an already preprocessed float array."""
    channels = preprocessing.image_shape[0]
    if isinstance(item, bytes):
        pixels = images.decode(item, channels, limits)
    elif item.dtype == np.uint8:
        pixels = images.from_array(item, channels, limits)
    else:
        if item.shape != tuple(preprocessing.image_shape):
            raise BadRequest(
                f"A preprocessed float array must have the model's input shape {tuple(preprocessing.image_shape)} "
                f"per image, not {item.shape}"
            )
        values = item.astype(np.float32, copy=False)  # checked after the cast: 1e300 is infinite in float32
        if not np.isfinite(values).all():
            raise BadRequest(
                "A preprocessed float array holds NaN or infinite values, or values beyond "
                "float32's range (about 3.4e38)"
            )
        return values
    _check_transformable(*pixels.shape[:2], preprocessing, limits.max_pixels)
    return preprocessing.apply(pixels)

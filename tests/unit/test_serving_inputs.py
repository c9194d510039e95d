"""Request images to model inputs: the training's validation transform, and what it was never given."""

import io

import numpy as np
import pytest
from PIL import Image

from image_classifier.model.preprocessing import Preprocessing
from image_classifier.serving.errors import BadRequest, PayloadTooLarge
from image_classifier.serving.inputs import model_input
from image_classifier.serving.settings import MB, ImageLimits

LIMIT = ImageLimits(max_pixels=10_000_000, max_decoded_bytes=64 * MB)
CENTER = Preprocessing.for_training((3, 8, 8), resize=None)
RESIZED = Preprocessing.for_training((3, 8, 8), resize=10)
SQUASH = Preprocessing((3, 8, 8), crop="squash", mean=(0.0,) * 3, std=(1.0,) * 3)
RGB = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("preprocessing", [CENTER, RESIZED, SQUASH])
def test_images_go_through_the_validation_transform(preprocessing):
    expected = preprocessing.apply(RGB)
    assert np.array_equal(model_input(png(RGB), preprocessing, LIMIT), expected)
    assert np.array_equal(model_input(RGB, preprocessing, LIMIT), expected)


def test_preprocessed_arrays_pass_through_as_float32():
    array = np.random.default_rng(1).normal(size=(3, 8, 8))
    result = model_input(array, CENTER, LIMIT)
    assert result.dtype == np.float32 and np.array_equal(result, array.astype(np.float32))


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((3, 9, 8), np.float32), r"must have the model's input shape \(3, 8, 8\) per image, not \(3, 9, 8\)"),
        (np.full((3, 8, 8), np.nan, np.float32), "NaN or infinite"),
        (np.full((3, 8, 8), np.inf, np.float64), "NaN or infinite"),
        (np.full((3, 8, 8), 1e300, np.float64), "beyond float32's range"),  # finite until cast to float32
    ],
)
def test_bad_preprocessed_arrays(array, message):
    with pytest.raises(BadRequest, match=message):
        model_input(array, CENTER, LIMIT)


def test_image_smaller_than_the_crop_without_resize_is_refused():
    with pytest.raises(BadRequest, match="The image is 5x12 pixels, smaller than the model's 8x8 input"):
        model_input(png(RGB[:, :5]), CENTER, LIMIT)


def test_small_images_are_fine_when_resized_or_squashed():
    small = RGB[:3, :4]
    assert model_input(png(small), RESIZED, LIMIT).shape == (3, 8, 8)
    assert model_input(png(small), SQUASH, LIMIT).shape == (3, 8, 8)


def test_elongated_image_that_resizing_would_blow_up_is_refused():
    strip = np.zeros((1, 2000, 3), np.uint8)
    with pytest.raises(PayloadTooLarge, match="resized to a shorter side of 10 it would have 200000 pixels"):
        model_input(png(strip), RESIZED, ImageLimits(100_000, 64 * MB))

"""The image transform a model was trained with, saved beside it so that serving applies the same one.

Training's validation transform is ``ImageRecordIter``'s: decode to RGB, resize the shorter side to
``resize`` (bilinear, sides truncated to integers, as MXNet's image_aug_default.cc does), crop the
centre to image_shape, then subtract ``mean`` and divide by ``std`` per channel. ``apply`` does exactly
that in NumPy/OpenCV for serving. Models of SageMaker's built-in algorithm come without this file; for
them ``squash`` resizes the whole image to image_shape, as the built-in's own inference does.
"""

import json
from dataclasses import asdict, dataclass

import numpy as np

from .. import image_ops

FILE_NAME = "preprocessing.json"
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class Preprocessing:
    image_shape: tuple[int, int, int]  # (channels, height, width)
    resize: int | None = None
    crop: str = "center"  # "center", or "squash" for the built-in algorithm's artifacts
    mean: tuple[float, ...] = IMAGENET_MEAN  # per channel
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def for_training(cls, image_shape: tuple[int, int, int], resize: int | None) -> "Preprocessing":
        channels = image_shape[0]
        mean = IMAGENET_MEAN if channels == 3 else (float(np.mean(IMAGENET_MEAN)),)
        std = IMAGENET_STD if channels == 3 else (float(np.mean(IMAGENET_STD)),)
        return cls(tuple(image_shape), resize, "center", mean, std)

    def record_iter_args(self) -> dict:
        """The ImageRecordIter arguments that decode, resize, crop and normalise this way."""
        args = {"data_shape": self.image_shape, "inter_method": 1}
        if self.resize:
            args["resize"] = self.resize
        for letter, mean, std in zip("rgb", self.mean, self.std):
            args[f"mean_{letter}"] = mean
            args[f"std_{letter}"] = std
        return args

    def apply(self, image: np.ndarray) -> np.ndarray:
        """An HxWxC uint8 image (RGB, or one channel) to the model's CxHxW float32 input."""
        channels, height, width = self.image_shape
        if self.crop == "squash":
            image = image_ops.resize(image, width, height)
        else:
            if self.resize:
                image = image_ops.resize_shorter_side(image, self.resize)
            top = (image.shape[0] - height) // 2
            left = (image.shape[1] - width) // 2
            image = image[top : top + height, left : left + width]
        # (x - mean) / std as one multiply and one subtraction, written straight into a C-contiguous CxHxW
        # array: on every request's path in serving, fewer passes over the pixels than a float copy,
        # subtraction, division and transpose spelled out (bench/README.md)
        std = np.array(self.std, np.float32)[:, None, None]
        mean = np.array(self.mean, np.float32)[:, None, None]
        out = np.empty(self.image_shape, np.float32)
        np.multiply(image.reshape(height, width, channels).transpose(2, 0, 1), 1 / std, out=out)
        out -= mean / std
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Preprocessing":
        fields = json.loads(text)
        for name in ("image_shape", "mean", "std"):
            fields[name] = tuple(fields[name])
        return cls(**fields)

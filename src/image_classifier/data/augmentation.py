"""The augmentations ImageRecordIter lacks, one image at a time: RandAugment, TrivialAugment, random erasing.

Ours, off by default:
    augmentation_type=randaugment    randaugment_n operations (2), each picked uniformly from the 14 of Cubuk et
                                     al. (2020), at magnitude randaugment_m (9) on the paper's scale of 0 to 10:
                                     shear up to 0.3, translation up to 0.45 of the side, rotation up to 30
                                     degrees, enhancement factors 1 -/+ 0.9, posterize to 4 bits, solarize at 0
                                     (AutoAugment's ranges, as timm's rand-m9-n2)
    augmentation_type=trivialaugment one operation of the same 14 at a magnitude drawn uniformly from 0 to 30 of
                                     the wide ranges of Mueller and Hutter (2021), TrivialAugment Wide: shear up to
                                     0.99, translation up to 32 pixels, rotation up to 135 degrees, factors
                                     1 -/+ 0.99, posterize to 2 bits
    random_erasing=p                 with probability p one box of 2% to 33% of the image, aspect ratio 0.3 to 3.3
                                     (log-uniform), set to the mean: 0 once normalised (Zhong et al.,
                                     torchvision's RandomErasing, 10 tries to fit the box)
Signed operations (shear, translation, rotation, the factors) go either way, half each. The policies follow
ImageRecordIter's random crop and mirror (C++) and come before normalisation, as in the papers; geometric
operations fill with the mean pixel, nearest neighbour. Erasing follows normalisation. One- and
three-channel images alike (Pillow's "L" and "RGB").

Every draw comes from a generator seeded with (seed, epoch, batch, image) alone, so a job resumed mid-epoch
augments the rest of it exactly as one never stopped. This module imports NumPy and Pillow only: it is what
the worker processes of augment_workers.py run.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

POLICIES = ("randaugment", "trivialaugment")
STREAM = 1  # the last word of an image's seed: its draws are not mixup's (seed, epoch, batch)
ERASE_AREA = (0.02, 0.33)
ERASE_RATIO = (0.3, 3.3)
ERASE_TRIES = 10


@dataclass(frozen=True)
class Space:
    """One policy's ranges: each operation's strength at the top magnitude ``levels``."""

    levels: int  # the magnitudes run 0..levels
    shear: float
    translate: Callable[[int], float]  # the largest shift in pixels along a side of that many pixels
    rotate: float  # degrees
    enhance: float  # factors 1 -/+ this
    posterize: int  # bits taken away


RANDAUGMENT = Space(levels=10, shear=0.3, translate=lambda side: 0.45 * side, rotate=30.0, enhance=0.9, posterize=4)
TRIVIALAUGMENT = Space(levels=30, shear=0.99, translate=lambda side: 32.0, rotate=135.0, enhance=0.99, posterize=6)
SPACES = {"randaugment": RANDAUGMENT, "trivialaugment": TRIVIALAUGMENT}


def _affine(image, matrix, fill):
    return image.transform(image.size, Image.AFFINE, matrix, resample=Image.NEAREST, fillcolor=fill)


def _enhance(enhancer):
    return lambda image, space, strength, sign, fill: enhancer(image).enhance(1.0 + sign * strength * space.enhance)


# Each operation: (image, space, strength in [0, 1], sign -1 or 1, fill) to the new image.
OPERATIONS: dict[str, Callable] = {
    "identity": lambda image, space, strength, sign, fill: image,
    "autocontrast": lambda image, space, strength, sign, fill: ImageOps.autocontrast(image),
    "equalize": lambda image, space, strength, sign, fill: ImageOps.equalize(image),
    "rotate": lambda image, space, strength, sign, fill: image.rotate(
        sign * strength * space.rotate, resample=Image.NEAREST, fillcolor=fill
    ),
    "solarize": lambda image, space, strength, sign, fill: ImageOps.solarize(image, 256.0 * (1.0 - strength)),
    "color": _enhance(ImageEnhance.Color),
    "posterize": lambda image, space, strength, sign, fill: ImageOps.posterize(
        image, 8 - round(strength * space.posterize)
    ),
    "contrast": _enhance(ImageEnhance.Contrast),
    "brightness": _enhance(ImageEnhance.Brightness),
    "sharpness": _enhance(ImageEnhance.Sharpness),
    "shear_x": lambda image, space, strength, sign, fill: _affine(
        image, (1, sign * strength * space.shear, 0, 0, 1, 0), fill
    ),
    "shear_y": lambda image, space, strength, sign, fill: _affine(
        image, (1, 0, 0, sign * strength * space.shear, 1, 0), fill
    ),
    "translate_x": lambda image, space, strength, sign, fill: _affine(
        image, (1, 0, sign * strength * space.translate(image.size[0]), 0, 1, 0), fill
    ),
    "translate_y": lambda image, space, strength, sign, fill: _affine(
        image, (1, 0, 0, 0, 1, sign * strength * space.translate(image.size[1])), fill
    ),
}
NAMES = tuple(OPERATIONS)


@dataclass(frozen=True)
class Augmentation:
    """What augment_workers.py applies to each training image after ImageRecordIter's crop and mirror."""

    policy: str | None  # one of POLICIES, or None
    operations: int  # randaugment_n
    magnitude: int  # randaugment_m
    erasing: float  # random_erasing's probability
    mean: tuple[float, ...]  # per channel, as the model's preprocessing normalises
    std: tuple[float, ...]

    @property
    def enabled(self) -> bool:
        return self.policy is not None or self.erasing > 0

    def draws(self, generator: np.random.Generator) -> list[tuple[str, float, int]]:
        """One image's operations: (name, strength in [0, 1], sign)."""
        if self.policy is None:
            return []
        space = SPACES[self.policy]
        if self.policy == "randaugment":
            levels = [self.magnitude] * self.operations
        else:
            levels = [int(generator.integers(space.levels + 1))]
        chosen = []
        for level in levels:
            name = NAMES[int(generator.integers(len(NAMES)))]
            sign = -1 if generator.random() < 0.5 else 1
            chosen.append((name, level / space.levels, sign))
        return chosen

    def image(self, pixels: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        """One C x H x W uint8 image to its augmented, normalised float32 C x H x W."""
        draws = self.draws(generator)
        if draws:
            pixels = self.apply(pixels, draws)
        out = (pixels.astype(np.float32) - np.array(self.mean, np.float32)[:, None, None]) / np.array(
            self.std, np.float32
        )[:, None, None]
        if self.erasing and generator.random() < self.erasing:
            box = erasing_box(generator, *out.shape[1:])
            if box is not None:
                top, bottom, left, right = box
                out[:, top:bottom, left:right] = 0.0
        return out

    def apply(self, pixels: np.ndarray, draws: list[tuple[str, float, int]]) -> np.ndarray:
        """The C x H x W uint8 image ``pixels`` through the operations ``draws``, in order."""
        channels = pixels.shape[0]
        image = Image.fromarray(pixels[0] if channels == 1 else pixels.transpose(1, 2, 0))
        fill = tuple(round(value) for value in self.mean)
        fill = fill[0] if channels == 1 else fill
        space = SPACES[self.policy]
        for name, strength, sign in draws:
            image = OPERATIONS[name](image, space, strength, sign, fill)
        array = np.asarray(image)
        return array[None] if channels == 1 else array.transpose(2, 0, 1)


def erasing_box(generator: np.random.Generator, height: int, width: int) -> tuple[int, int, int, int] | None:
    """The box (top, bottom, left, right) random erasing sets; None when 10 tries found none that fits."""
    area = height * width
    for _ in range(ERASE_TRIES):
        target = area * generator.uniform(*ERASE_AREA)
        ratio = math.exp(generator.uniform(math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])))
        rows, cols = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < rows < height and 0 < cols < width:
            top, left = int(generator.integers(height - rows + 1)), int(generator.integers(width - cols + 1))
            return top, top + rows, left, left + cols
    return None


def image_generator(seed: int, epoch: int, batch_number: int, image_number: int) -> np.random.Generator:
    """The draws of image ``image_number`` of batch ``batch_number`` of 0-based epoch ``epoch``."""
    return np.random.default_rng([seed, epoch, batch_number, image_number, STREAM])


def augment_images(
    augmentation: Augmentation, pixels: np.ndarray, seed: int, epoch: int, batch_number: int, first: int
) -> np.ndarray:
    """Images ``first``, ``first + 1``, ... of a batch (N x C x H x W uint8) augmented: N x C x H x W float32."""
    return np.stack(
        [
            augmentation.image(image, image_generator(seed, epoch, batch_number, first + number))
            for number, image in enumerate(pixels)
        ]
    )

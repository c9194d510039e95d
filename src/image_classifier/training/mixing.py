"""Mixup and CutMix: each training batch blended with itself in reverse order, images and targets alike.

Ours, off by default:
    mixup_alpha       the images blend, x = λ·x + (1 - λ)·x[::-1] (Zhang et al.; GluonCV's and timm's pairing)
    cutmix_alpha      a box of about (1 - λ) of the image comes from x[::-1] (Yun et al.; timm's box, clipped to
                      the image), and λ becomes the image's exact share left outside the box
    mixup_off_epochs  the last N epochs mix nothing (the network ends on clean images, as GluonCV's recipe)
λ is drawn from Beta(α, α); with both alphas set, each batch is mixup or CutMix, one half each (timm's
switch). The targets mix with the same λ (targets.py). A batch's draw comes from a generator seeded with
(seed, epoch, batch number) alone, so a job resumed mid-epoch, which skips the batches it trained, draws for
the rest exactly what one never stopped drew.
"""

import math
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from ..hyperparameters import Hyperparameters


@dataclass(frozen=True)
class Mix:
    """One batch's draw."""

    share: float  # λ: each image's and target's own share
    box: tuple[int, int, int, int] | None = None  # CutMix: rows top:bottom, columns left:right from x[::-1]

    def images(self, data: mx.nd.NDArray) -> mx.nd.NDArray:
        """The batch ``data`` (N, C, H, W) mixed with itself reversed; a new array."""
        reversed_data = data.flip(axis=0)
        if self.box is None:
            return data * self.share + reversed_data * (1.0 - self.share)
        top, bottom, left, right = self.box
        if bottom <= top or right <= left:  # λ near 1: an empty box (MXNet cannot slice one)
            return data
        mixed = data.copy()
        mixed[:, :, top:bottom, left:right] = reversed_data[:, :, top:bottom, left:right]
        return mixed

    def targets(self, targets: mx.nd.NDArray) -> mx.nd.NDArray:
        """Per-class targets (N, K) mixed as the images are."""
        return targets * self.share + targets.flip(axis=0) * (1.0 - self.share)


class Mixing:
    def __init__(self, hp: Hyperparameters):
        self.mixup_alpha = hp.mixup_alpha
        self.cutmix_alpha = hp.cutmix_alpha
        self.end_epoch = hp.epochs - hp.mixup_off_epochs  # the 0-based epochs from here on mix nothing

    @property
    def enabled(self) -> bool:
        return bool(self.mixup_alpha or self.cutmix_alpha)

    def draw(self, seed: int, epoch: int, batch_number: int, height: int, width: int) -> Mix | None:
        """Batch ``batch_number`` of 0-based epoch ``epoch``'s mix; None when it trains on its own images
        (the last epochs, or a CutMix box too small to hold a pixel)."""
        if not self.enabled or epoch >= self.end_epoch:
            return None
        generator = np.random.default_rng([seed, epoch, batch_number])
        cutmix = self.cutmix_alpha > 0 and (not self.mixup_alpha or generator.random() < 0.5)
        alpha = self.cutmix_alpha if cutmix else self.mixup_alpha
        share = float(generator.beta(alpha, alpha))
        if not cutmix:
            return Mix(share)
        ratio = math.sqrt(1.0 - share)
        half_height, half_width = int(height * ratio) // 2, int(width * ratio) // 2
        centre_y, centre_x = int(generator.integers(height)), int(generator.integers(width))
        top, bottom = max(centre_y - half_height, 0), min(centre_y + half_height, height)
        left, right = max(centre_x - half_width, 0), min(centre_x + half_width, width)
        if bottom == top or right == left:
            return None  # a box of no pixels (λ near 1): the batch's own images, as MXNet cannot assign to it
        return Mix(1.0 - (bottom - top) * (right - left) / (height * width), (top, bottom, left, right))

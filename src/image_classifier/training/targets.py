"""What the training loss compares the network's outputs with: the batch's labels, or per-class targets.

``label_smoothing`` ε (ours; 0 keeps the built-in's hard labels):
- one label per image: the class gets 1 - ε + ε/K and every other class ε/K (GluonCV's ``smooth``, Szegedy
  et al.'s);
- multi-label: each class is its own yes/no question, so each 0/1 target moves toward 0.5, to ε/2 and
  1 - ε/2 (Keras's ``BinaryCrossentropy(label_smoothing)``).
With mixup or CutMix (mixing.py) the targets then mix as the images did. Without either, the labels pass as
they are (``as_given``: class ids for the softmax loss). The validation loss that picks the kept epoch is
measured on the hard labels (reports/losses.py).
"""

import mxnet as mx

from .mixing import Mix


class Targets:
    def __init__(self, num_classes: int, multi_label: bool, smoothing: float, mixing: bool):
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.smoothing = smoothing
        self.as_given = not smoothing and not mixing  # the labels as they are; else one value per class

    def __call__(self, label: mx.nd.NDArray, mix: Mix | None = None) -> mx.nd.NDArray:
        """The targets of a batch's ``label`` (class ids, or multi-hot rows with multi_label), mixed by ``mix``."""
        if self.as_given:
            return label
        if self.multi_label:
            targets = label * (1.0 - self.smoothing) + self.smoothing / 2 if self.smoothing else label
        else:
            off = self.smoothing / self.num_classes
            targets = mx.nd.one_hot(label, self.num_classes, on_value=1.0 - self.smoothing + off, off_value=off)
        return targets if mix is None else mix.targets(targets)

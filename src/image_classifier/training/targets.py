"""What the training loss compares the network's outputs with: the batch's labels, or their smoothed targets.

``label_smoothing`` ε (ours; 0 keeps the built-in's hard labels, passed on untouched):
- one label per image: the class gets 1 - ε + ε/K and every other class ε/K (GluonCV's ``smooth``, Szegedy
  et al.'s), so the softmax loss takes one probability per class (``sparse`` False);
- multi-label: each class is its own yes/no question, so each 0/1 target moves toward 0.5, to ε/2 and
  1 - ε/2 (Keras's ``BinaryCrossentropy(label_smoothing)``).
The validation loss that picks the kept epoch is measured on the hard labels (reports/losses.py).
"""

import mxnet as mx


class Targets:
    def __init__(self, num_classes: int, multi_label: bool, smoothing: float):
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.smoothing = smoothing

    @property
    def sparse(self) -> bool:
        """True when the softmax loss gets class ids (the labels as they are), False for one value per class."""
        return self.multi_label or not self.smoothing

    def __call__(self, label: mx.nd.NDArray) -> mx.nd.NDArray:
        """The targets of a batch's ``label`` (class ids, or multi-hot rows with multi_label)."""
        if not self.smoothing:
            return label
        if self.multi_label:
            return label * (1.0 - self.smoothing) + self.smoothing / 2
        off = self.smoothing / self.num_classes
        return mx.nd.one_hot(label, self.num_classes, on_value=1.0 - self.smoothing + off, off_value=off)

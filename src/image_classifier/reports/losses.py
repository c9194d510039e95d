"""The loss per image for the curves, computed alike for training and validation batches.

From what the training metrics see: logits (softmax cross-entropy, as SoftmaxCrossEntropyLoss) or,
for multi-label, per-class probabilities (binary cross-entropy averaged over classes, as
SigmoidBinaryCrossEntropyLoss). Unweighted: use_weighted_loss changes what is optimised, not this.
"""

import numpy as np

EPSILON = 1e-7  # keeps log() finite for probabilities of exactly 0 or 1


def cross_entropy(labels: np.ndarray, scores: np.ndarray, multi_label: bool) -> np.ndarray:
    """(N,) losses for ``labels`` ((N,) class ids, or (N, classes) multi-hot) and ``scores`` (N, classes)."""
    if multi_label:
        probabilities = np.clip(scores, EPSILON, 1 - EPSILON)
        return -(labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities)).mean(axis=1)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(shifted).sum(axis=1))
    return log_total - shifted[np.arange(len(labels)), labels.astype(np.int64)]

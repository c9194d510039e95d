"""evaluation.json: how the kept model does on the validation set, class by class.

Single-label: accuracy, top-k accuracy, per-class precision, recall, F1 and support, their macro
averages, and the confusion matrix (rows: true class, columns: predicted class). Multi-label: each
class decided at the training metric's threshold of 0.5, per-class precision, recall, F1, support and
average precision, and their means. Precision, recall and F1 are 0 where undefined (no prediction,
no example), as scikit-learn reports them by default; average precision is null for a class without
positive examples.

With quantize=int8, ``int8`` holds the int8 model's accuracy (as the float32 one's is defined) on the same
images and its agreement with the float32 model.
"""

import numpy as np

MULTI_LABEL_THRESHOLD = 0.5
DEFAULT_TOP_K = 5


def _ratio(numerator, denominator):
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def _rates(true_positives, predicted, actual):
    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, actual)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


def _per_class(class_names, precision, recall, f1, support, **extra):
    return [
        {
            "index": index,
            "name": class_names.get(index, str(index)),
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "support": int(support[index]),
            **{name: values[index] for name, values in extra.items()},
        }
        for index in range(len(support))
    ]


def _macro_average(precision, recall, f1):
    return {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[t, p]: images of true class t predicted as p."""
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def top_k_accuracy(labels: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    best = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float((best == labels[:, None]).any(axis=1).mean())


def top_ks(requested: int | None, num_classes: int) -> list[int]:
    """The k to report: the job's top_k, else 5; only where k < num_classes, as any larger k is trivially 1."""
    k = requested or DEFAULT_TOP_K
    return [k] if k < num_classes else []


def agreement(probabilities: np.ndarray, other: np.ndarray, multi_label: bool = False) -> float:
    """How often two models' answers are the same: the share of images with the same top class, or for
    multi-label the share of (image, class) decisions at the threshold that are the same."""
    if multi_label:
        return float(((probabilities > MULTI_LABEL_THRESHOLD) == (other > MULTI_LABEL_THRESHOLD)).mean())
    return float((probabilities.argmax(axis=1) == other.argmax(axis=1)).mean())


def single_label(
    labels: np.ndarray, probabilities: np.ndarray, class_names: dict[int, str], top_k: int | None = None
) -> dict:
    """The report for integer ``labels`` (N,) and ``probabilities`` (N, classes)."""
    labels = labels.astype(np.int64)
    num_classes = probabilities.shape[1]
    counts = confusion_matrix(labels, probabilities.argmax(axis=1), num_classes)
    true_positives = np.diag(counts)
    precision, recall, f1 = _rates(true_positives, counts.sum(axis=0), counts.sum(axis=1))
    names = [class_names.get(index, str(index)) for index in range(num_classes)]
    return {
        "task": "single_label",
        "count": int(len(labels)),
        "accuracy": float(true_positives.sum() / max(len(labels), 1)),
        "top_k_accuracy": {str(k): top_k_accuracy(labels, probabilities, k) for k in top_ks(top_k, num_classes)},
        "macro_average": _macro_average(precision, recall, f1),
        "per_class": _per_class(class_names, precision, recall, f1, counts.sum(axis=1)),
        "confusion_matrix": {
            "rows": "true class",
            "columns": "predicted class",
            "classes": names,
            "counts": counts.tolist(),
        },
    }


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the precision-recall curve as scikit-learn's average_precision_score sums it:
    over the distinct scores from high to low, the precision there times the recall gained there."""
    positives = truth.sum()
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    last_of_each_score = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(truth)[last_of_each_score]
    precision = true_positives / (last_of_each_score + 1)
    recall_gained = np.diff(np.r_[0, true_positives]) / positives
    return float((precision * recall_gained).sum())


def multi_label(
    labels: np.ndarray, probabilities: np.ndarray, class_names: dict[int, str], threshold: float = MULTI_LABEL_THRESHOLD
) -> dict:
    """The report for multi-hot ``labels`` and per-class ``probabilities``, both (N, classes)."""
    truth = labels > 0.5
    decided = probabilities > threshold
    support = truth.sum(axis=0)
    precision, recall, f1 = _rates((truth & decided).sum(axis=0), decided.sum(axis=0), support)
    precisions = [average_precision(truth[:, index], probabilities[:, index]) for index in range(truth.shape[1])]
    defined = [value for value in precisions if value is not None]
    return {
        "task": "multi_label",
        "count": int(len(labels)),
        "threshold": threshold,
        "accuracy": float((truth == decided).mean()),
        "exact_match": float((truth == decided).all(axis=1).mean()),
        "mean_average_precision": float(np.mean(defined)) if defined else None,
        "macro_average": _macro_average(precision, recall, f1),
        "per_class": _per_class(class_names, precision, recall, f1, support, average_precision=precisions),
    }

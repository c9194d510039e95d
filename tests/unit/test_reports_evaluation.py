"""evaluation.json's numbers against ones computed by hand on small known prediction sets."""

import numpy as np
import pytest

from image_classifier.reports import evaluation, losses

NAMES = {0: "cat", 1: "dog", 2: "bird"}
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0], np.float32)
PREDICTED = [0, 0, 1, 1, 2, 2, 2, 1, 2, 0]
SECOND = [1, 1, 0, 0, 0, 0, 0, 2, 0, 1]  # rows 2 and 7 are wrong but right in the top 2; row 4 is not


def _probabilities():
    probabilities = np.full((10, 3), 0.1, np.float32)
    probabilities[np.arange(10), SECOND] = 0.3
    probabilities[np.arange(10), PREDICTED] = 0.6
    return probabilities


@pytest.fixture
def report():
    return evaluation.single_label(LABELS, _probabilities(), NAMES, top_k=2)


def test_confusion_matrix_rows_are_true_classes_columns_predicted(report):
    assert report["confusion_matrix"]["counts"] == [[3, 1, 0], [0, 1, 1], [0, 1, 3]]
    assert report["confusion_matrix"]["classes"] == ["cat", "dog", "bird"]


def test_accuracy_and_top_k(report):
    assert report["count"] == 10
    assert report["accuracy"] == pytest.approx(0.7)
    assert report["top_k_accuracy"] == {"2": pytest.approx(0.9)}


def test_per_class_precision_recall_f1_support(report):
    rows = {row["name"]: row for row in report["per_class"]}
    assert [row["index"] for row in report["per_class"]] == [0, 1, 2]
    expected = {  # precision = diagonal / column sum, recall = diagonal / row sum
        "cat": (3 / 3, 3 / 4, 6 / 7, 4),
        "dog": (1 / 3, 1 / 2, 0.4, 2),
        "bird": (3 / 4, 3 / 4, 0.75, 4),
    }
    for name, (precision, recall, f1, support) in expected.items():
        assert rows[name]["precision"] == pytest.approx(precision)
        assert rows[name]["recall"] == pytest.approx(recall)
        assert rows[name]["f1"] == pytest.approx(f1)
        assert rows[name]["support"] == support
    assert report["macro_average"] == pytest.approx(
        {"precision": (1 + 1 / 3 + 0.75) / 3, "recall": 2 / 3, "f1": (6 / 7 + 0.4 + 0.75) / 3}
    )


def test_a_class_never_predicted_or_absent_scores_zero_not_nan():
    probabilities = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0]], np.float32)
    report = evaluation.single_label(np.array([0, 1]), probabilities, {})
    dog, third = report["per_class"][1], report["per_class"][2]
    assert (dog["precision"], dog["recall"], dog["f1"], dog["support"]) == (0.0, 0.0, 0.0, 1)
    assert (third["name"], third["support"], third["f1"]) == ("2", 0, 0.0)


def test_top_k_defaults_to_5_and_only_below_the_class_count():
    assert evaluation.top_ks(None, 10) == [5]
    assert evaluation.top_ks(None, 5) == []
    assert evaluation.top_ks(3, 4) == [3]


MULTI_LABELS = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32)
MULTI_PROBABILITIES = np.array([[0.9, 0.6, 0.1], [0.8, 0.4, 0.7], [0.3, 0.6, 0.2], [0.1, 0.2, 0.1]], np.float32)


def test_average_precision_by_hand():
    # class 0 ranked T F T F: precision 1 at recall 0.5, then 2/3 at recall 1
    assert evaluation.average_precision(MULTI_LABELS[:, 0] > 0, MULTI_PROBABILITIES[:, 0]) == pytest.approx(5 / 6)
    # class 1: a positive and a negative tie at 0.6 (precision 1/2 there), then a positive at 0.4 (2/3)
    assert evaluation.average_precision(MULTI_LABELS[:, 1] > 0, MULTI_PROBABILITIES[:, 1]) == pytest.approx(
        0.5 * 0.5 + 0.5 * 2 / 3
    )
    assert evaluation.average_precision(MULTI_LABELS[:, 2] > 0, MULTI_PROBABILITIES[:, 2]) is None


def test_multi_label_report():
    report = evaluation.multi_label(MULTI_LABELS, MULTI_PROBABILITIES, NAMES)
    assert report["threshold"] == 0.5
    assert report["accuracy"] == pytest.approx(7 / 12)  # (image, class) decisions right at 0.5
    assert report["exact_match"] == pytest.approx(2 / 4)
    assert report["mean_average_precision"] == pytest.approx((5 / 6 + 0.5 * 0.5 + 0.5 * 2 / 3) / 2)
    cat, dog, bird = report["per_class"]
    assert (cat["precision"], cat["recall"], cat["f1"], cat["support"]) == (0.5, 0.5, 0.5, 2)
    assert (dog["precision"], dog["recall"], dog["support"]) == (0.5, 0.5, 2)
    assert (bird["precision"], bird["support"], bird["average_precision"]) == (0.0, 0, None)
    assert "confusion_matrix" not in report


def test_losses_match_the_training_losses_definitions():
    logits = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)
    assert losses.cross_entropy(np.array([0.0, 1.0]), logits, multi_label=False) == pytest.approx(
        [np.log(2), 2 + np.log(1 + np.exp(-2))]
    )
    probabilities = np.array([[0.5, 0.9]], np.float32)
    assert losses.cross_entropy(np.array([[1.0, 0.0]]), probabilities, multi_label=True) == pytest.approx(
        [(np.log(2) - np.log(0.1)) / 2]
    )

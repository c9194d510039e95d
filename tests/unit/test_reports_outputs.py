"""What the Reporter writes: metrics.json, TensorBoard scalars (read back with TensorBoard's own reader),
evaluation.json from the kept model, and PNGs a person can read."""

import json

import mxnet as mx
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from image_classifier import hyperparameters
from image_classifier.environment import Environment, Paths
from image_classifier.model import artifacts, networks, quantize
from image_classifier.model.preprocessing import Preprocessing
from image_classifier.reports import plots
from image_classifier.reports.reporter import BATCH_SCALARS_EVERY, Reporter
from image_classifier.serving.predictor import Predictor
from image_classifier.training import metrics

NAMES = {0: "circle", 1: "square", 2: "triangle"}
SHAPE = (3, 16, 16)


def _hp(**values):
    return hyperparameters.parse({"num_classes": "3", "num_training_samples": "64", **values})


def _environment(root, hosts=("algo-1",), current_host="algo-1"):
    return Environment(paths=Paths(root), hyperparameters={}, hosts=hosts, current_host=current_host)


def _write_model(model_dir, multi_label=False):
    served = networks.with_probabilities(networks.build(20, 3), multi_label)
    served.hybridize()
    served(mx.nd.zeros((1, *SHAPE)))
    artifacts.write_metadata(model_dir, Preprocessing.for_training(SHAPE, None), NAMES)
    artifacts.save_epoch(served, model_dir, 2)


def _validation_batches(count=10, batch_size=4, multi_label=False):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, count).astype(np.float32)
    if multi_label:
        labels = np.eye(3, dtype=np.float32)[labels.astype(int)]
    data = rng.normal(size=(count, *SHAPE)).astype(np.float32)
    for start in range(0, count, batch_size):
        valid = min(batch_size, count - start)
        padded = np.resize(np.arange(start, start + valid), batch_size)  # the iterator tops up the last batch
        yield mx.nd.array(data[padded]), mx.nd.array(labels[padded]), valid


def _run_epochs(reporter, hp, epochs=2, batches_per_epoch=6):
    metric = metrics.make_metrics(hp.multi_label, hp.top_k)
    for epoch in range(epochs):
        metric.reset()
        for _ in range(batches_per_epoch):
            labels = mx.nd.array([0, 1, 2, 0])
            scores = mx.nd.array(np.eye(3)[[0, 1, 1, 0]] * 3)  # 3 of 4 right
            metrics.update(metric, labels, scores, 4)
            reporter.train_batch(labels, scores, 4, metric, 0.1 / (epoch + 1))
        metric.reset()
        for labels, scores, valid in (((mx.nd.array([0, 1]), mx.nd.array([[5.0, 0, 0], [5.0, 0, 0]]), 2)),):
            metrics.update(metric, labels, scores, valid)
            reporter.validation_batch(labels, scores, valid)
        reporter.end_of_epoch(epoch, metric)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    env = _environment(tmp_path_factory.mktemp("ml"))
    hp = _hp(top_k="2")
    _write_model(env.paths.model_dir)
    reporter = Reporter(env, hp, NAMES)
    _run_epochs(reporter, hp)
    reporter.finish(_validation_batches(), mx.cpu())
    return env


def test_metrics_json_has_each_epoch(finished):
    epochs = json.loads((finished.paths.output_data_dir / "metrics.json").read_text())["epochs"]
    assert [record["epoch"] for record in epochs] == [0, 1]
    assert epochs[1]["learning_rate"] == pytest.approx(0.05)
    assert epochs[0]["train"]["accuracy"] == pytest.approx(0.75)
    assert epochs[0]["validation"]["accuracy"] == pytest.approx(0.5)
    assert set(epochs[0]["train"]) == {"accuracy", "top_k_accuracy_2", "loss"}
    expected_loss = np.mean([np.log(2 + np.exp(3)) - 3] * 3 + [np.log(2 + np.exp(3))])
    assert epochs[0]["train"]["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert epochs[0]["validation"]["loss"] == pytest.approx(
        np.mean([np.log(2 + np.exp(5)) - 5, np.log(2 + np.exp(5))]), rel=1e-5
    )


def test_tensorboard_scalars_read_back(finished):
    events = EventAccumulator(str(finished.paths.tensorboard_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "accuracy/train",
        "accuracy/validation",
        "loss/train",
        "loss/validation",
        "learning_rate",
        "top_k_accuracy_2/train",
        "batch/accuracy",
        "batch/loss",
        "batch/learning_rate",
    } <= tags
    assert [event.step for event in events.Scalars("accuracy/validation")] == [0, 1]
    assert events.Scalars("accuracy/validation")[0].value == pytest.approx(0.5)
    assert [event.step for event in events.Scalars("batch/loss")] == [BATCH_SCALARS_EVERY]  # 12 batches trained


def test_evaluation_json_describes_the_kept_model(finished):
    report = json.loads((finished.paths.output_data_dir / "evaluation.json").read_text())
    assert report["model"] == "image-classification-0002.params"
    assert report["count"] == 10  # the top-up rows of the last batch are not counted
    assert np.sum(report["confusion_matrix"]["counts"]) == 10
    assert report["confusion_matrix"]["classes"] == ["circle", "square", "triangle"]
    assert set(report["top_k_accuracy"]) == {"2"}
    assert "int8" not in report  # quantize=none


def test_with_quantize_int8_the_report_gains_the_int8_models_accuracy_and_agreement(tmp_path):
    env = _environment(tmp_path)
    model_dir = env.paths.model_dir
    _write_model(model_dir)
    quantize.quantize(model_dir, (data for data, _, _ in _validation_batches(count=32)), 32)
    reporter = Reporter(env, _hp(quantize="int8"), NAMES)
    reporter.finish(_validation_batches(), mx.cpu())
    report = json.loads((env.paths.output_data_dir / "evaluation.json").read_text())
    data = np.concatenate([data.asnumpy()[:valid] for data, _, valid in _validation_batches()])
    labels = np.concatenate([label.asnumpy()[:valid] for _, label, valid in _validation_batches()])
    float32 = Predictor.load(model_dir, mx.cpu(), "float32").predict(data)
    int8 = Predictor.load(model_dir, mx.cpu(), "int8").predict(data)
    assert report["int8"] == {
        "model": "image-classification-int8.params",
        "accuracy": pytest.approx(float((int8.argmax(1) == labels).mean())),
        "agreement_with_float32": pytest.approx(float((int8.argmax(1) == float32.argmax(1)).mean())),
    }
    assert report["accuracy"] == pytest.approx(float((float32.argmax(1) == labels).mean()))


def _png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
        return image.size


def test_pngs_are_valid_images_of_sensible_size(finished):
    width, height = _png_size(finished.paths.output_data_dir / "training_curves.png")
    assert 800 <= width <= 3000 and 300 <= height <= 2000
    width, height = _png_size(finished.paths.output_data_dir / "confusion_matrix.png")
    assert 400 <= width <= 3000 and 400 <= height <= 3000


@pytest.mark.slow
def test_confusion_matrix_of_50_classes_leaves_room_for_each(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 5, (50, 50)) + np.diag(rng.integers(20, 40, 50))
    path = tmp_path / "confusion_matrix.png"
    plots.confusion_matrix(counts, [f"class number {index} with a long name" for index in range(50)], path)
    width, height = _png_size(path)
    assert width >= 50 * 25 and height >= 50 * 25 and max(width, height) <= 3000


def test_multi_label_reports_average_precision_and_draws_no_confusion_matrix(tmp_path):
    env = _environment(tmp_path)
    hp = _hp(multi_label="1")
    _write_model(env.paths.model_dir, multi_label=True)
    reporter = Reporter(env, hp, NAMES)
    metric = metrics.make_metrics(True, None)
    labels, probabilities = mx.nd.array([[1, 0, 1]]), mx.nd.array([[0.9, 0.2, 0.4]])
    metrics.update(metric, labels, probabilities, 1)
    reporter.train_batch(labels, probabilities, 1, metric, 0.1)
    reporter.validation_batch(labels, probabilities, 1)
    reporter.end_of_epoch(0, metric)
    reporter.finish(_validation_batches(multi_label=True), mx.cpu())
    report = json.loads((env.paths.output_data_dir / "evaluation.json").read_text())
    assert report["task"] == "multi_label" and report["threshold"] == 0.5
    assert all("average_precision" in row for row in report["per_class"])
    assert (env.paths.output_data_dir / "training_curves.png").exists()
    assert not (env.paths.output_data_dir / "confusion_matrix.png").exists()


def test_only_the_first_host_writes(tmp_path):
    env = _environment(tmp_path, hosts=("algo-1", "algo-2"), current_host="algo-2")
    hp = _hp()
    reporter = Reporter(env, hp, NAMES)
    _run_epochs(reporter, hp, epochs=1)
    reporter.finish(_validation_batches(), mx.cpu())
    assert not (tmp_path / "output").exists()


def test_tensorboard_events_go_to_the_environments_local_path(tmp_path):
    env = Environment(paths=Paths(tmp_path), hyperparameters={}, tensorboard_local_path=tmp_path / "board")
    reporter = Reporter(env, _hp(), NAMES)
    _run_epochs(reporter, _hp(), epochs=1)
    reporter.board.close()
    events = EventAccumulator(str(tmp_path / "board"))
    events.Reload()
    assert "accuracy/validation" in events.Tags()["scalars"]
    assert not (tmp_path / "output" / "tensorboard").exists()

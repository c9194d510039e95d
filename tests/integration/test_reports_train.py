"""The real `train` leaves its reports, TensorBoard files and (export_onnx=1) model.onnx behind."""

import itertools
import json
import re
from pathlib import Path

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from training_process import TINY, run_train

from image_classifier import demo_data
from image_classifier.model import artifacts

DOCS = Path(__file__).resolve().parents[2] / "docs"


def docs_table(page, heading):
    """{file name: its row} of the first table after ``heading`` in ``docs/page``."""
    lines = (DOCS / page).read_text().split(f"\n{heading}\n", 1)[1].splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith("|"))
    rows = itertools.takewhile(lambda line: line.startswith("|"), lines[start:])
    return {match.group(1): row for row in rows if (match := re.match(r"\| `([^`]+)` \|", row))}


def as_pattern(example):
    """A docs example line as a regex: its numbers stand for any number."""
    return re.sub(r"\\?\d+(?:\\\.\d+)?", r"[0-9.]+", re.escape(example))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base_dir = demo_data.write_job(
        tmp_path_factory.mktemp("job") / "ml", 64, 40, 16, **{**TINY, "epochs": 2, "top_k": 2, "export_onnx": 1}
    )
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    return base_dir, result.stdout


def test_history_follows_the_log_lines(trained):
    base_dir, stdout = trained
    epochs = json.loads((base_dir / "output" / "data" / "metrics.json").read_text())["epochs"]
    logged = [float(value) for value in re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", stdout, re.M)]
    assert [record["validation"]["accuracy"] for record in epochs] == pytest.approx(logged, abs=1e-6)
    assert all(record["train"]["loss"] > 0 and record["validation"]["loss"] > 0 for record in epochs)
    assert all(record["learning_rate"] == pytest.approx(0.02) for record in epochs)


def test_evaluation_of_the_kept_model(trained):
    base_dir, stdout = trained
    report = json.loads((base_dir / "output" / "data" / "evaluation.json").read_text())
    kept = artifacts.saved_epochs(base_dir / "model")[-1]
    assert report["model"] == f"image-classification-{kept:04d}.params"
    assert report["count"] == 40
    assert report["confusion_matrix"]["classes"] == list(demo_data.CLASS_NAMES)
    assert [row["support"] for row in report["per_class"]] == [10, 10, 10, 10]
    logged = re.search(r"^Kept epoch (\d+) \((.+)\): Validation-accuracy=([0-9.]+), validation loss", stdout, re.M)
    assert (int(logged.group(1)) + 1, logged.group(2)) == (kept, report["model"])
    assert report["accuracy"] == pytest.approx(float(logged.group(3)), abs=1e-6)  # the kept model, evaluated again
    assert sorted(p.name for p in (base_dir / "model").glob("*.params")) == [report["model"]]


def test_plots_are_pngs(trained):
    base_dir, _ = trained
    for name in ("training_curves.png", "confusion_matrix.png"):
        with Image.open(base_dir / "output" / "data" / name) as image:
            assert image.format == "PNG" and min(image.size) >= 300


def test_tensorboard_has_the_epoch_scalars(trained):
    base_dir, _ = trained
    events = EventAccumulator(str(base_dir / "output" / "tensorboard"))
    events.Reload()
    assert {
        "accuracy/train",
        "accuracy/validation",
        "loss/train",
        "loss/validation",
        "learning_rate",
        "top_k_accuracy_2/validation",
    } <= set(events.Tags()["scalars"])
    assert [event.step for event in events.Scalars("loss/validation")] == [0, 1]


def test_export_onnx_writes_model_onnx_beside_the_mxnet_files(trained):
    base_dir, _ = trained
    model = onnx.load(str(base_dir / "model" / "model.onnx"))
    images = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
    (probabilities,) = ReferenceEvaluator(model).run(None, {"data": images})
    expected = artifacts.load(base_dir / "model")(mx.nd.array(images)).asnumpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_the_docs_output_section_lists_exactly_what_train_writes(trained):
    base_dir, stdout = trained
    model_files = {re.sub(r"-\d{4}\.params$", "-NNNN.params", path.name) for path in (base_dir / "model").iterdir()}
    assert set(docs_table("training.md", "## Output")) == model_files
    reports = docs_table("reports-and-onnx.md", "## Reports and TensorBoard")
    assert set(reports) == {path.name for path in (base_dir / "output" / "data").iterdir()}
    metrics = json.loads((base_dir / "output" / "data" / "metrics.json").read_text())
    assert list(metrics) == ["epochs"] and '`{"epochs": [...]}`' in reports["metrics.json"]
    assert all(f'"{key}"' in reports["metrics.json"] for key in metrics["epochs"][0])
    output = (DOCS / "training.md").read_text().split("\n## Output\n", 1)[1]
    log_block = output.split("```\n", 2)[1]
    for line in log_block.splitlines()[1:]:  # progress lines: test_train.py's test_progress_lines
        assert re.search(f"^{as_pattern(line)}$", stdout, re.M), line

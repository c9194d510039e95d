"""`network` through the real `train` command: a MobileNet v3 from scratch to model.onnx, and a MobileNet v2
fine-tuned from a GluonCV .params file in the 'pretrained' channel (tests/unit/test_networks.py covers every
family at the unit level)."""

import json
import re

import mxnet as mx
import onnx
from training_process import failure_text, run_train, set_hyperparameters

from image_classifier import demo_data
from image_classifier.model import artifacts, graph, networks
from image_classifier.serving.predictor import Predictor

SMALL = dict(num_train=16, num_validation=8, size=32, mini_batch_size=8, epochs=1)


def network_job(tmp_path, network, **hyperparameters):
    settings = {**SMALL, **hyperparameters}
    counts = settings.pop("num_train"), settings.pop("num_validation"), settings.pop("size")
    base_dir = demo_data.write_job(tmp_path / "ml", *counts, network=network, **settings)
    set_hyperparameters(base_dir, num_layers=None)  # demo_data's job sets ResNet-20's
    return base_dir


def test_a_network_trains_from_scratch_and_exports_onnx(tmp_path):
    base_dir = network_job(tmp_path, "mobilenetv3_small", export_onnx=1)
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    model_dir = base_dir / "model"
    predictor = Predictor.load(model_dir, mx.cpu())
    assert predictor.num_classes == len(demo_data.CLASS_NAMES)
    saved = mx.sym.load(str(model_dir / artifacts.SYMBOL_FILE))
    built = networks.symbol(networks.architecture(None, len(demo_data.CLASS_NAMES), "mobilenetv3_small"))
    assert graph.parameter_shapes(saved, (3, 32, 32)) == graph.parameter_shapes(built, (3, 32, 32))
    onnx.checker.check_model(str(model_dir / "model.onnx"))


def test_a_network_fine_tunes_from_a_gluoncv_file_in_the_pretrained_channel(tmp_path):
    base_dir = network_job(
        tmp_path, "mobilenetv2_0.25", epochs=2, freeze_epochs=1, trainable_layers=3, body_lr_mult=0.5
    )
    source = networks.build(None, 10, "mobilenetv2_0.25")
    source(mx.nd.zeros((1, 3, 32, 32)))
    folder = base_dir / "input" / "data" / "pretrained"
    folder.mkdir()
    source.save_parameters(str(folder / "mobilenetv2.params"))
    config = base_dir / "input" / "config" / "inputdataconfig.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "pretrained": {"TrainingInputMode": "File"}}))
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^Epoch\[0\] Training the head only; the body is frozen$", result.stdout, re.M)
    assert re.search(r"^Epoch\[1\] Training the head and the body's top 3 weighted layers", result.stdout, re.M)


def test_a_bad_size_for_the_network_fails_before_training(tmp_path):
    base_dir = network_job(tmp_path, "inceptionv3")
    result = run_train(base_dir)
    assert result.returncode != 0
    assert failure_text(base_dir).startswith("network=inceptionv3 takes 299x299 images only")

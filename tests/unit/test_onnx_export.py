"""model.onnx against MXNet: same probabilities (onnx's reference evaluator), dynamic batch, weights as initializers."""

import json

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

from image_classifier import cli
from image_classifier.errors import UserError
from image_classifier.model import artifacts, networks, onnx_export, quantize
from image_classifier.model.preprocessing import Preprocessing

SHAPE = (3, 16, 16)
NAMES = {0: "circle", 1: "square", 2: "triangle"}


def _model_dir(path, multi_label=False, epochs=(1,)):
    served = networks.with_probabilities(networks.build(20, 3), multi_label)
    served.hybridize()
    served(mx.nd.zeros((1, *SHAPE)))
    artifacts.write_metadata(path, Preprocessing.for_training(SHAPE, 20), NAMES)
    for epoch_number in epochs:
        for param in served.collect_params().values():  # each epoch's weights differ
            param.set_data(param.data() + mx.nd.random.normal(scale=0.01, shape=param.shape))
        artifacts.save_epoch(served, path, epoch_number)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model_dir = _model_dir(tmp_path_factory.mktemp("model"))
    return model_dir, onnx.load(str(onnx_export.export(model_dir)))


@pytest.mark.parametrize("batch", [1, 3])
def test_matches_mxnet_for_any_batch_size(exported, batch):
    model_dir, model = exported
    images = np.random.default_rng(batch).normal(size=(batch, *SHAPE)).astype(np.float32)
    (probabilities,) = ReferenceEvaluator(model).run(None, {"data": images})
    expected = artifacts.load(model_dir)(mx.nd.array(images)).asnumpy()
    assert probabilities.shape == (batch, 3)
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_weights_are_initializers_not_inputs(exported):
    _, model = exported
    assert [value.name for value in model.graph.input] == ["data"]
    assert len(model.graph.initializer) > 50
    onnx.checker.check_model(model)


def test_batch_is_dynamic_in_the_signature(exported):
    _, model = exported

    def dims(value):
        return [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim]

    assert dims(model.graph.input[0]) == ["batch", 3, 16, 16]
    assert [value.name for value in model.graph.output] == ["probabilities"]
    assert dims(model.graph.output[0]) == ["batch", 3]


def test_preprocessing_and_classes_travel_with_the_model(exported):
    _, model = exported
    props = {prop.key: prop.value for prop in model.metadata_props}
    assert Preprocessing.from_json(props["preprocessing"]) == Preprocessing.for_training(SHAPE, 20)
    assert json.loads(props["classes"]) == {"0": "circle", "1": "square", "2": "triangle"}
    assert "shorter side is 20 pixels" in model.doc_string and "crop the centre 16x16" in model.doc_string
    assert "softmax" in model.doc_string


def test_multi_label_model_keeps_its_sigmoids(tmp_path):
    model_dir = _model_dir(tmp_path, multi_label=True)
    model = onnx.load(str(onnx_export.export(model_dir)))
    images = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype(np.float32)
    (probabilities,) = ReferenceEvaluator(model).run(None, {"data": images})
    np.testing.assert_allclose(probabilities, artifacts.load(model_dir)(mx.nd.array(images)).asnumpy(), atol=1e-4)
    assert "sigmoids" in model.doc_string


def test_command_exports_the_chosen_epoch(tmp_path, capsys):
    model_dir = _model_dir(tmp_path / "model", epochs=(1, 2))
    output = tmp_path / "exported.onnx"
    assert cli.main(["export-onnx", str(model_dir), "--epoch", "1", "--output", str(output)]) == 0
    assert str(output) in capsys.readouterr().out
    props = {prop.key: prop.value for prop in onnx.load(str(output)).metadata_props}
    assert props["source"] == "image-classification-0001.params"
    images = np.zeros((1, *SHAPE), np.float32)
    (probabilities,) = ReferenceEvaluator(onnx.load(str(output))).run(None, {"data": images})
    expected = artifacts.load(model_dir, epoch_number=1)(mx.nd.array(images)).asnumpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_command_explains_a_directory_without_a_model(tmp_path, capsys):
    assert cli.main(["export-onnx", str(tmp_path)]) == 1
    assert "holds no image-classification-NNNN.params" in capsys.readouterr().err


def test_unknown_epoch_names_the_ones_there(tmp_path):
    model_dir = _model_dir(tmp_path, epochs=(2,))
    with pytest.raises(UserError, match="no params file for epoch 5; it has epochs 2"):
        onnx_export.export(model_dir, epoch_number=5)


def test_the_int8_model_is_refused_by_name_and_the_float32_beside_it_exported(tmp_path):
    model_dir = _model_dir(tmp_path / "model")
    images = np.random.default_rng(0).normal(size=(16, *SHAPE)).astype(np.float32)
    quantize.quantize(model_dir, [mx.nd.array(images)], 16)
    props = {prop.key: prop.value for prop in onnx.load(str(onnx_export.export(model_dir))).metadata_props}
    assert props["source"] == "image-classification-0001.params"
    artifacts.params_path(model_dir, 1).unlink()  # the int8 model alone
    with pytest.raises(UserError, match=r"holds only the int8 model .* no conversion for its oneDNN int8 operators"):
        onnx_export.export(model_dir)
    symbol, arg_params, aux_params = artifacts.load_int8(model_dir)
    with pytest.raises(
        AttributeError, match=f"No conversion function registered for op type {onnx_export.INT8_OPERATOR}"
    ):
        mx.onnx.export_model(  # why: MXNet's exporter itself, given the int8 graph
            symbol,
            {**arg_params, **aux_params},
            in_shapes=[(1, *SHAPE)],
            in_types=np.float32,
            onnx_file_path=str(tmp_path / "int8.onnx"),
        )

"""model.onnx: the trained network for any ONNX runtime, its preprocessing written into the file.

    image-classifier export-onnx MODEL_DIR [--output PATH] [--epoch N]
    export_onnx=1 (hyperparameter): training writes /opt/ml/model/model.onnx beside the MXNet files

The graph has one input, ``data``: float32 [batch, C, H, W], batch dynamic; and one output,
``probabilities``: float32 [batch, classes], softmax over the classes (independent sigmoids for a
multi-label model). Weights are initializers, not graph inputs. The preprocessing is not in the graph:
the model's doc_string says it in words, and metadata_props carries ``preprocessing`` (preprocessing.json)
and ``classes`` (classes.json) for programs.

The exported model is the float32 one. The int8 model (quantize.py) is not exportable: MXNet 1.9.1's ONNX
exporter has no conversion for oneDNN's fused int8 operators, so a directory holding only it is refused by
name, with the fix; one holding both exports its float32 files.
"""

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from .. import atomic_files
from ..errors import UserError

FILE_NAME = "model.onnx"
INPUT_NAME = "data"
OUTPUT_NAME = "probabilities"
INT8_OPERATOR = "_sg_mkldnn_conv"  # the first operator of an int8 graph that mx.onnx.export_model cannot convert


def _preprocessing_text(preprocessing):
    channels, height, width = preprocessing.image_shape
    steps = []
    if preprocessing.crop == "squash":
        steps.append(f"resize the whole image to {width}x{height} pixels (bilinear)")
    else:
        if preprocessing.resize:
            steps.append(f"resize it so that its shorter side is {preprocessing.resize} pixels (bilinear)")
        steps.append(f"crop the centre {width}x{height} pixels")
    mean, std = [round(value, 3) for value in preprocessing.mean], [round(value, 3) for value in preprocessing.std]
    steps += [
        f"subtract the per-channel mean {mean} and divide by the per-channel std {std} (0-255 pixel values)",
        "reorder height x width x channel to channel x height x width, and stack images on a leading batch axis",
    ]
    colour = "an RGB image" if channels == 3 else "a one-channel (grey) image"
    return f"Input '{INPUT_NAME}': decode {colour}; " + "; ".join(steps) + "."


def _output_text(symbol_json):
    graph = json.loads(symbol_json)
    head = graph["nodes"][graph["heads"][0][0]]
    kind = (
        "independent per-class sigmoids (multi-label)"
        if head.get("attrs", {}).get("act_type") == "sigmoid"
        else "softmax over the classes"
    )
    return f"Output '{OUTPUT_NAME}': class probabilities, {kind}; class names in metadata_props['classes']."


def _set_dims(value_info, dims):
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for dim in dims:
        if isinstance(dim, str):
            shape.dim.add().dim_param = dim
        else:
            shape.dim.add().dim_value = dim


def _weights_as_initializers_only(graph):
    """MXNet's exporter lists every weight as a graph input too; runtimes then treat them as overridable inputs."""
    initialized = {tensor.name for tensor in graph.initializer}
    kept = [value for value in graph.input if value.name not in initialized]
    del graph.input[:]
    graph.input.extend(kept)


def _rename_output(graph, name):
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [name if output == old else output for output in node.output]
    graph.output[0].name = name


def _epoch_to_export(model_dir, epoch_number):
    from . import artifacts  # MXNet: imported on use, as in export

    if not model_dir.is_dir():
        raise UserError(f"{model_dir} is not a directory: give export-onnx a model directory (unpack model.tar.gz)")
    if artifacts.holds_only_int8(model_dir):
        raise UserError(
            f"{model_dir} holds only the int8 model ({artifacts.INT8_PARAMS_FILE}), and MXNet's ONNX exporter has no "
            f"conversion for its oneDNN int8 operators ({INT8_OPERATOR}): export the float32 model (the "
            f"{artifacts.PARAMS_FILES} that quantize=int8 writes beside it) and quantize it in your ONNX runtime "
            f"(onnxruntime.quantization), or serve the int8 model with `serve`"
        )
    if artifacts.missing_files(model_dir, (artifacts.PARAMS_FILES,)):
        raise UserError(f"{model_dir} holds no {artifacts.PARAMS_FILES}: give export-onnx a trained model directory")
    saved_epochs = artifacts.saved_epochs(model_dir)
    if epoch_number is not None and epoch_number not in saved_epochs:
        raise UserError(
            f"{model_dir} has no params file for epoch {epoch_number}; it has epochs "
            f"{', '.join(str(epoch) for epoch in saved_epochs)}"
        )
    return epoch_number or saved_epochs[-1]


def export(model_dir: Path, output_path: Path | None = None, epoch_number: int | None = None) -> Path:
    """Write model.onnx from the newest params file (or the 1-based ``epoch_number``); returns its path."""
    # Imported on use: the image-classifier command imports this module to build its parser on every run.
    import mxnet as mx
    import onnx

    from . import artifacts

    model_dir = Path(model_dir)
    params_path = artifacts.params_path(model_dir, _epoch_to_export(model_dir, epoch_number))
    preprocessing = artifacts.read_preprocessing(model_dir)
    symbol = mx.sym.load(str(model_dir / artifacts.SYMBOL_FILE))
    params = {name.split(":", 1)[1]: value for name, value in mx.nd.load(str(params_path)).items()}
    num_classes = symbol.infer_shape(data=(1, *preprocessing.image_shape))[1][0][1]
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as scratch_dir:
        logging.disable(logging.INFO)  # the exporter logs on the root logger, naming its scratch file
        try:
            exported = mx.onnx.export_model(
                symbol,
                params,
                in_shapes=[(1, *preprocessing.image_shape)],
                in_types=np.float32,
                onnx_file_path=str(Path(scratch_dir) / FILE_NAME),
                dynamic=True,
                dynamic_input_shapes=[(None, *preprocessing.image_shape)],
            )
        finally:
            logging.disable(logging.NOTSET)
        model = onnx.load(exported)
    graph = model.graph
    _weights_as_initializers_only(graph)
    _rename_output(graph, OUTPUT_NAME)
    _set_dims(graph.input[0], ["batch", *preprocessing.image_shape])
    _set_dims(graph.output[0], ["batch", num_classes])
    model.doc_string = f"{_preprocessing_text(preprocessing)} {_output_text(symbol.tojson())}"
    classes = {str(index): name for index, name in artifacts.read_classes(model_dir).items()}
    onnx.helper.set_model_props(
        model, {"preprocessing": preprocessing.to_json(), "classes": json.dumps(classes), "source": params_path.name}
    )
    onnx.checker.check_model(model)
    output_path = Path(output_path) if output_path else model_dir / FILE_NAME
    with atomic_files.staged(output_path) as partial:
        onnx.save(model, str(partial))
    return output_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="a trained model directory (image-classification-symbol.json, -NNNN.params)")
    parser.add_argument("--output", help=f"where to write the ONNX file (default: MODEL_DIR/{FILE_NAME})")
    parser.add_argument("--epoch", type=int, help="the 1-based epoch of the params file (default: the newest)")


def run(args: argparse.Namespace) -> int:
    try:
        path = export(args.model_dir, args.output, args.epoch)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0

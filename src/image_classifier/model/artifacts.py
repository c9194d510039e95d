"""The model directory: SageMaker's built-in layout plus our classes and preprocessing.

image-classification-symbol.json    the network, ending in softmax (or sigmoid for multi-label)
image-classification-NNNN.params    weights after epoch NNNN (1-based)
model-shapes.json                   [{"name": "data", "shape": [1, C, H, W]}]
classes.json                        {"0": "name", ...}
preprocessing.json                  the validation transform (see preprocessing.py)
"""

import json
import os
import re
from pathlib import Path

import mxnet as mx

from .preprocessing import FILE_NAME as PREPROCESSING_FILE
from .preprocessing import Preprocessing

PREFIX = "image-classification"
SYMBOL_FILE = f"{PREFIX}-symbol.json"
SHAPES_FILE = "model-shapes.json"
CLASSES_FILE = "classes.json"
PARAMS_PATTERN = re.compile(rf"^{PREFIX}-(\d{{4}})\.params$")


def params_path(model_dir, epoch_number):
    return Path(model_dir) / f"{PREFIX}-{epoch_number:04d}.params"


def saved_epochs(model_dir):
    """The 1-based epoch numbers that have a params file, in order."""
    found = (PARAMS_PATTERN.match(path.name) for path in Path(model_dir).glob(f"{PREFIX}-*.params"))
    return sorted(int(match.group(1)) for match in found if match)


def save_epoch(served_net, model_dir, epoch_number):
    """Export symbol and params for ``epoch_number``; each file appears whole or not at all."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".staging-{PREFIX}"
    served_net.export(str(staging), epoch_number)
    os.replace(f"{staging}-symbol.json", model_dir / SYMBOL_FILE)
    os.replace(f"{staging}-{epoch_number:04d}.params", params_path(model_dir, epoch_number))


def _write_atomically(path, text):
    staging = path.with_name(f".staging-{path.name}")
    staging.write_text(text)
    os.replace(staging, path)


def write_metadata(model_dir, preprocessing, class_names):
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    shapes = [{"name": "data", "shape": [1, *preprocessing.image_shape]}]
    _write_atomically(model_dir / SHAPES_FILE, json.dumps(shapes))
    _write_atomically(model_dir / CLASSES_FILE, json.dumps({str(k): v for k, v in class_names.items()}, indent=1))
    _write_atomically(model_dir / PREPROCESSING_FILE, preprocessing.to_json())


def read_classes(model_dir):
    path = Path(model_dir) / CLASSES_FILE
    return {int(k): v for k, v in json.loads(path.read_text()).items()} if path.exists() else {}


def read_preprocessing(model_dir):
    """Our preprocessing.json, or for a built-in algorithm artifact the built-in's squash to model-shapes."""
    model_dir = Path(model_dir)
    path = model_dir / PREPROCESSING_FILE
    if path.exists():
        return Preprocessing.from_json(path.read_text())
    shape = json.loads((model_dir / SHAPES_FILE).read_text())[0]["shape"]
    return Preprocessing(tuple(shape[1:]), crop="squash", mean=(0.0,) * shape[1], std=(1.0,) * shape[1])


def load(model_dir, ctx=None, epoch_number=None):
    """The served network (a SymbolBlock) from the newest params file, or from ``epoch_number``.

    Its input is declared float32, what serving and evaluation feed (a float16-trained model is saved in
    float32), so MXNet infers every type from it; ``SymbolBlock.imports`` leaves the input's type open and
    warns "Cannot decide type for the following arguments" at every load.
    """
    model_dir = Path(model_dir)
    epoch_number = epoch_number or saved_epochs(model_dir)[-1]
    net = mx.gluon.SymbolBlock(mx.sym.load(str(model_dir / SYMBOL_FILE)), mx.sym.var("data", dtype="float32"))
    net.collect_params().load(str(params_path(model_dir, epoch_number)), ctx or mx.cpu(), cast_dtype=True)
    return net

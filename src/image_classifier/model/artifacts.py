"""The model directory: SageMaker's built-in layout plus our classes and preprocessing.

image-classification-symbol.json    the network, ending in softmax (or sigmoid for multi-label)
image-classification-NNNN.params    weights after epoch NNNN (1-based)
model-shapes.json                   [{"name": "data", "shape": [1, C, H, W]}]
classes.json                        {"0": "name", ...}
preprocessing.json                  the validation transform (see preprocessing.py)
image-classification-int8-symbol.json, image-classification-int8.params
                                    with quantize=int8: the served epoch quantized (see quantize.py)
"""

import json
import re
from pathlib import Path

import mxnet as mx
import numpy as np

from .. import atomic_files
from .preprocessing import FILE_NAME as PREPROCESSING_FILE
from .preprocessing import Preprocessing

PREFIX = "image-classification"
SYMBOL_FILE = f"{PREFIX}-symbol.json"
SHAPES_FILE = "model-shapes.json"
CLASSES_FILE = "classes.json"
PARAMS_PATTERN = re.compile(rf"^{PREFIX}-(\d{{4}})\.params$")
PARAMS_FILES = f"{PREFIX}-NNNN.params"  # any epoch's params file, as messages name it
MODEL_FILES = (SYMBOL_FILE, SHAPES_FILE, PARAMS_FILES)
INT8_SYMBOL_FILE = f"{PREFIX}-int8-symbol.json"
INT8_PARAMS_FILE = f"{PREFIX}-int8.params"
INT8_MODEL_FILES = (INT8_SYMBOL_FILE, SHAPES_FILE, INT8_PARAMS_FILE)


def params_path(model_dir: Path, epoch_number: int) -> Path:
    return Path(model_dir) / f"{PREFIX}-{epoch_number:04d}.params"


def saved_epochs(model_dir: Path) -> list[int]:
    """The 1-based epoch numbers that have a params file, in order."""
    found = (PARAMS_PATTERN.match(path.name) for path in Path(model_dir).glob(f"{PREFIX}-*.params"))
    return sorted(int(match.group(1)) for match in found if match)


def missing_files(model_dir: Path, names: tuple[str, ...] = MODEL_FILES) -> list[str]:
    """Those of the model files ``names`` (from MODEL_FILES) that ``model_dir`` lacks, in the order given."""
    model_dir = Path(model_dir)
    present = {name: (model_dir / name).is_file() for name in names if name != PARAMS_FILES}
    present[PARAMS_FILES] = bool(saved_epochs(model_dir))
    return [name for name in names if not present[name]]


def holds_only_int8(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds the int8 params file and no float32 one (the float32 files were left out)."""
    return not saved_epochs(model_dir) and (Path(model_dir) / INT8_PARAMS_FILE).is_file()


def default_precision(model_dir: Path) -> str:
    """The precision of the model files served when none is asked for: int8 for a directory holding only the
    int8 model, else float32."""
    return "int8" if holds_only_int8(model_dir) else "float32"


def holds_model(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a model's symbol or params files (not, say, a GluonCV .params file alone)."""
    return len(missing_files(model_dir, (SYMBOL_FILE, PARAMS_FILES))) < 2


def parameter_bytes(net: mx.gluon.Block) -> int:
    """The size of ``net``'s parameters as a params file holds them (those of a shape not yet known left out)."""
    return sum(
        int(np.prod(param.shape)) * np.dtype(param.dtype).itemsize
        for param in net.collect_params().values()
        if param.shape and all(param.shape)
    )


def save_epoch(served_net: mx.gluon.HybridBlock, model_dir: Path, epoch_number: int) -> None:
    """Export symbol and params for ``epoch_number``; each file appears whole or not at all."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    needed = parameter_bytes(served_net)
    # export writes PREFIX-symbol.json and PREFIX-NNNN.params beside the prefix it is given: the partial
    # prefix names exactly the two partial paths (renamed symbol first, as the blocks end innermost first)
    params, symbol = params_path(model_dir, epoch_number), model_dir / SYMBOL_FILE
    with atomic_files.staged(params, needed), atomic_files.staged(symbol, needed):
        served_net.export(str(atomic_files.partial_path(model_dir / PREFIX)), epoch_number)


def save_int8(model_dir: Path, symbol: mx.sym.Symbol, arg_params: dict, aux_params: dict) -> None:
    """The int8 model's symbol and params files (as export writes them, arg: and aux: prefixes), each whole."""
    model_dir = Path(model_dir)
    arrays = {f"arg:{name}": value for name, value in arg_params.items()}
    arrays.update({f"aux:{name}": value for name, value in aux_params.items()})
    with atomic_files.staged(model_dir / INT8_PARAMS_FILE) as partial:
        mx.nd.save(str(partial), arrays)
    with atomic_files.staged(model_dir / INT8_SYMBOL_FILE) as partial:
        symbol.save(str(partial))


def load_int8(model_dir: Path) -> tuple[mx.sym.Symbol, dict, dict]:
    """The int8 model's symbol, arg and aux parameters."""
    model_dir = Path(model_dir)
    saved = mx.nd.load(str(model_dir / INT8_PARAMS_FILE))
    arg_params = {name[4:]: value for name, value in saved.items() if name.startswith("arg:")}
    aux_params = {name[4:]: value for name, value in saved.items() if name.startswith("aux:")}
    return mx.sym.load(str(model_dir / INT8_SYMBOL_FILE)), arg_params, aux_params


def write_metadata(model_dir: Path, preprocessing: Preprocessing, class_names: dict[int, str]) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    shapes = [{"name": "data", "shape": [1, *preprocessing.image_shape]}]
    atomic_files.write_text(model_dir / SHAPES_FILE, json.dumps(shapes))
    atomic_files.write_text(model_dir / CLASSES_FILE, json.dumps({str(k): v for k, v in class_names.items()}, indent=1))
    atomic_files.write_text(model_dir / PREPROCESSING_FILE, preprocessing.to_json())


def read_classes(model_dir: Path) -> dict[int, str]:
    path = Path(model_dir) / CLASSES_FILE
    return {int(k): v for k, v in json.loads(path.read_text()).items()} if path.exists() else {}


def read_preprocessing(model_dir: Path) -> Preprocessing:
    """Our preprocessing.json, or for a built-in algorithm artifact the built-in's squash to model-shapes."""
    model_dir = Path(model_dir)
    path = model_dir / PREPROCESSING_FILE
    if path.exists():
        return Preprocessing.from_json(path.read_text())
    shape = json.loads((model_dir / SHAPES_FILE).read_text())[0]["shape"]
    return Preprocessing(tuple(shape[1:]), crop="squash", mean=(0.0,) * shape[1], std=(1.0,) * shape[1])


def load(model_dir: Path, ctx: mx.Context | None = None, epoch_number: int | None = None) -> mx.gluon.SymbolBlock:
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

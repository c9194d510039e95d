"""Serving with the user's own inference code: the SageMaker MXNet inference contract, ours beneath it.

A model directory with ``code/inference.py`` (or the script SAGEMAKER_PROGRAM names, in the local directory
SAGEMAKER_SUBMIT_DIRECTORY names, else in ``code/``) may define any of

    model_fn(model_dir) -> model                      once per worker, after fork
    input_fn(body, content_type) -> data              body: bytes (str for application/json and text/csv)
    predict_fn(data, model) -> prediction
    output_fn(prediction, accept) -> body or (body, content_type)
    transform_fn(model, body, content_type, accept)   all three steps in one; not with the three above

as AWS's MXNet inference containers call them. Any not defined is ours, the same steps as our endpoint:

    model_fn    the Predictor of the model directory (``predict(batch)``, ``preprocessing``, ``class_names``)
    input_fn    our decoders and the training's preprocessing: float32 CxHxW for a one-image type (an image
                type, a 3-d array), NxCxHxW for several (RecordIO, JSON Lines, a 4-d array)
    predict_fn  our model through the worker's dynamic batching (a Gluon block of the user's model_fn: called
                on the CPU array), probabilities: (classes,) for CxHxW, (N, classes) for NxCxHxW
    output_fn   our encoders: JSON or JSON Lines, top_k from the custom attributes, class names

The request threads of a worker run input_fn and output_fn side by side; predict_fn and transform_fn one
request at a time (a worker's model is not run by two threads at once, as MXNet 1.x needs).
content_type is the request's type/subtype, without parameters; accept is the Accept header, or
SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT when it is missing or ``*/*``. A ValueError raised by the user's
input_fn or transform_fn is a 400 with its message (their way of refusing a request); any other exception
raised by user code is a 500 whose body names the function, with the traceback in the log only. Our own
steps answer as our endpoint does (415, 400, 406, 413). Without user code none of this is loaded.
"""

import importlib.util
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mxnet as mx
import numpy as np
from flask import Response, request

from .. import s3_objects
from ..errors import UserError
from ..model import artifacts, preprocessing, tarballs
from . import codecs, custom_attributes, inputs
from .batching import Batcher
from .body import read_body
from .errors import BadRequest, PayloadTooLarge, ServingError
from .predictor import MAX_BATCH, Predictor
from .settings import Settings

log = logging.getLogger(__name__)
DEFAULT_PROGRAM = "inference.py"
FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
INPUT_FUNCTIONS = ("input_fn", "transform_fn")  # where a ValueError is the request's fault: 400
TEXT_TYPES = ("application/json", "text/csv")  # bodies given to user code as str, as the inference toolkit does
MODULE_PREFIX = "image_classifier_model_"  # sys.modules' home of one of several models' user code


class UserCodeFailed(ServingError):
    """User code raised something other than a ValueError on input."""

    status = 500


def program_path(model_dir: Path, environ: dict) -> Path | None:
    """The user's inference script, or None when there is none (our endpoint alone)."""
    program = environ.get("SAGEMAKER_PROGRAM")
    if not program:
        path = model_dir / "code" / DEFAULT_PROGRAM
        return path if path.is_file() else None
    submitted = environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "").removeprefix("file://")
    directory = Path(submitted) if submitted and Path(submitted).is_dir() else model_dir / "code"
    path = directory / program
    if not path.is_file():
        raise UserError(
            f"SAGEMAKER_PROGRAM is {program}, but {path} does not exist; put the script in the model archive's "
            f"code/ folder (the SageMaker SDK repacks model.tar.gz so for a Model with entry_point and source_dir)"
        )
    return path


def with_local_source(model_dir: Path, environ: dict) -> dict:
    """``environ`` for the workers, with an ``s3://`` SAGEMAKER_SUBMIT_DIRECTORY downloaded and unpacked once.

    The SDK's Model with an entry_point but no source_dir uploads the code as its own sourcedir.tar.gz;
    with a source_dir it repacks model.tar.gz with the code in ``code/``, which needs no download.
    """
    program, submitted = environ.get("SAGEMAKER_PROGRAM"), environ.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if not (program and submitted.startswith("s3://")) or (model_dir / "code" / program).is_file():
        return environ
    source_dir = Path(tempfile.mkdtemp(prefix="inference-code-"))
    archive = source_dir.with_suffix(".tar.gz")
    archive.write_bytes(s3_objects.fetch(submitted, "SAGEMAKER_SUBMIT_DIRECTORY"))
    tarballs.unpack(archive, source_dir)
    archive.unlink()
    log.info("Inference code from %s unpacked into %s", submitted, source_dir)
    return {**environ, "SAGEMAKER_SUBMIT_DIRECTORY": str(source_dir)}


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _from(module, code_dir):
    return str(getattr(module, "__file__", None) or "").startswith(f"{code_dir}{os.sep}")


@contextmanager
def _own_modules(code_dir: Path, prefix: str | None) -> Iterator[None]:
    """The block imports the user's modules from ``code_dir`` (first on sys.path, so the script imports its
    neighbours). With ``prefix`` (one of several models in the worker), the module names in ``code_dir`` are
    the block's own: modules of those names imported before (another model's ``helpers``) are set aside during
    it and put back after, and the ones it imported from ``code_dir`` are kept under ``prefix.`` names (all
    dropped if the block fails). A module the user's code imports later, in a request, is not found there."""
    if prefix is None:
        sys.path.insert(0, str(code_dir))
        yield
        return
    local = {child.stem for child in code_dir.iterdir() if child.suffix == ".py" or (child / "__init__.py").is_file()}
    aside = {name: sys.modules.pop(name) for name in list(sys.modules) if name.partition(".")[0] in local}
    sys.path.insert(0, str(code_dir))
    try:
        yield
    except BaseException:
        drop_modules(prefix)
        raise
    finally:
        sys.path.remove(str(code_dir))
        for name, module in list(sys.modules.items()):
            if _from(module, code_dir) and not name.startswith(f"{prefix}."):
                del sys.modules[name]
                sys.modules[f"{prefix}.{name}"] = module
        sys.modules.update(aside)


def module_prefix(load_id: str) -> str:
    """Where one of several models' user modules live in sys.modules (``_own_modules``)."""
    return f"{MODULE_PREFIX}{load_id}"


def drop_modules(prefix: str) -> None:
    """Forgets the user modules of an unloaded model: their memory goes with the last request holding them."""
    for name in [name for name in sys.modules if name.startswith(f"{prefix}.")]:
        del sys.modules[name]


class Handlers:
    """The /invocations of a worker that serves through user code."""

    def __init__(
        self,
        path: Path,
        model_dir: Path,
        settings: Settings,
        ctx: mx.Context,
        predictor: Predictor | None = None,
        modules: str | None = None,
    ):
        """``modules``: the prefix (``module_prefix``) of one of several models' user modules; None for the
        worker's only model, whose script is the module ``inference`` (its file's name), as AWS's containers
        name it."""
        with _own_modules(path.parent, modules):
            module = _import(path, f"{modules}.{path.stem}" if modules else path.stem)
            self._start(path, model_dir, settings, ctx, predictor, module)

    def _start(self, path, model_dir, settings, ctx, predictor, module):
        """Takes the script's functions and the model (model_fn's, or ours)."""
        self.program = path.name
        self.settings = settings
        self.functions = {name: getattr(module, name) for name in FUNCTIONS if callable(getattr(module, name, None))}
        if "transform_fn" in self.functions and {"input_fn", "predict_fn", "output_fn"} & set(self.functions):
            raise UserError(
                f"{self.program} defines transform_fn and also input_fn, predict_fn or output_fn; define "
                f"transform_fn alone, or the others without it"
            )
        self._lock = threading.Lock()
        self._batcher = None
        if "model_fn" in self.functions:
            self.model = self.functions["model_fn"](str(model_dir))
            self.preprocessing = self._saved_preprocessing(model_dir)
            self.class_names = artifacts.read_classes(model_dir)
        else:
            self.model = predictor or Predictor.load(model_dir, ctx, settings.precision)
            self.preprocessing = self.model.preprocessing
            self.class_names = self.model.class_names
            self._batcher = Batcher(self.model, max(1, settings.dynamic_batch or 1))
        log.info("Serving through %s: its %s, ours for the rest", self.program, ", ".join(self.functions) or "none")

    def _saved_preprocessing(self, model_dir):
        if "input_fn" in self.functions or "transform_fn" in self.functions:
            return None
        if not (model_dir / preprocessing.FILE_NAME).exists() and not (model_dir / artifacts.SHAPES_FILE).exists():
            raise UserError(
                f"{self.program} defines model_fn but not input_fn: our input_fn needs the model's "
                f"{preprocessing.FILE_NAME} or {artifacts.SHAPES_FILE} in {model_dir}; add one or define input_fn"
            )
        return artifacts.read_preprocessing(model_dir)

    def _call(self, name, *args):
        """The user's function ``name``; its failures become our answers (400 or 500), never a dead worker."""
        try:
            return self.functions[name](*args)
        except ServingError:
            raise
        except ValueError as error:
            if name not in INPUT_FUNCTIONS:
                raise self._failed(name, error) from error
            log.info("400: %s in %s refused the request: %s", name, self.program, error)
            raise BadRequest(str(error) or f"{name} in {self.program} refused the request (ValueError)") from error
        except Exception as error:
            raise self._failed(name, error) from error

    def _failed(self, name, error):
        log.exception("500: %s in %s raised %s", name, self.program, type(error).__name__)
        return UserCodeFailed(
            f"{name} in {self.program} raised {type(error).__name__}; the endpoint's log has the traceback"
        )

    def _step(self, name, ours, *args):
        return self._call(name, *args) if name in self.functions else ours(*args)

    # Our steps, in the contract's terms.

    def input_fn(self, body: bytes, content_type: str) -> np.ndarray:
        payload = codecs.decoder_for(content_type)(body)
        if len(payload.items) > self.settings.max_images:
            raise PayloadTooLarge(
                f"The request holds {len(payload.items)} images, more than the {self.settings.max_images} that "
                f"IMAGE_CLASSIFIER_MAX_IMAGES allows"
            )
        images = []
        for number, item in enumerate(payload.items, 1):
            try:
                images.append(inputs.model_input(item, self.preprocessing, self.settings.image_limits))
            except ServingError as error:
                if not payload.several:
                    raise
                raise type(error)(f"Image {number}: {error}") from None
        return np.stack(images) if payload.several else images[0]

    def predict_fn(self, data: np.ndarray, model: Predictor) -> np.ndarray:
        batch = np.asarray(data, np.float32)
        if batch.ndim not in (3, 4):
            raise TypeError(f"our predict_fn takes a CxHxW or NxCxHxW array, not one of shape {batch.shape}")
        several = batch.ndim == 4
        batch = batch if several else batch[None]
        if self._batcher is None:  # the user's model_fn gave a Gluon block: one forward pass at a time
            with self._lock:
                probabilities = model(mx.nd.array(batch)).asnumpy()
        else:
            chunks = [
                self._batcher.predict(batch[start : start + MAX_BATCH]) for start in range(0, len(batch), MAX_BATCH)
            ]
            probabilities = np.concatenate(chunks)
        return probabilities if several else probabilities[0]

    def output_fn(self, prediction: np.ndarray, accept: str | None) -> tuple[str, str]:
        media_type = codecs.response_type(accept, self.settings.default_accept)
        probabilities = np.asarray(prediction, np.float64)
        several = probabilities.ndim == 2
        probabilities = np.atleast_2d(probabilities)
        header = request.headers.get(custom_attributes.HEADER)
        options = custom_attributes.parse(header, probabilities.shape[1])
        return codecs.encode(media_type, probabilities, several, options.top_k, self.class_names), media_type

    # The endpoint.

    def invocations(self) -> Response:
        settings = self.settings
        body = read_body(request.environ, settings.max_payload_bytes, settings.payload_limit_text())
        content_type = request.mimetype
        accept = request.headers.get("Accept") or settings.default_accept
        accept = settings.default_accept if accept == "*/*" else accept
        if content_type in TEXT_TYPES and any(name in self.functions for name in INPUT_FUNCTIONS):
            body = body.decode("utf-8", "replace")
        if "transform_fn" in self.functions:
            with self._lock:  # the model's work: one request at a time, as MXNet 1.x networks need
                result = self._call("transform_fn", self.model, body, content_type, accept)
        else:
            data = self._step("input_fn", self.input_fn, body, content_type)
            if "predict_fn" in self.functions:
                with self._lock:
                    prediction = self._call("predict_fn", data, self.model)
            else:
                prediction = self.predict_fn(data, self.model)
            result = self._step("output_fn", self.output_fn, prediction, accept)
        answer, media_type = result if isinstance(result, tuple) else (result, accept)
        return Response(answer, content_type=media_type)

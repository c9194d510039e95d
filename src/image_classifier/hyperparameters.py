"""The hyperparameter table: SageMaker's built-in names, types, defaults and checks, plus ours.

Every value arrives as a string (SageMaker writes hyperparameters.json as strings to strings) and is
coerced explicitly by its entry's parser; nothing is guessed with ``json.loads``.
"""

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import network_catalog
from .errors import UserError

RESNET_DEPTHS = (18, 34, 50, 101, 152, 200)
CIFAR_DEPTHS = (20, 32, 44, 56, 110)
PRETRAINED_DEPTHS = (18, 34, 50, 101, 152)
RESERVED_NAMES = ("_tuning_objective_metric", "_ps_port", "_ps_verbose")
RESERVED_PREFIX = "sagemaker_"


def _integer(text: str) -> int:
    return int(text)


def _number(text: str) -> float:
    return float(text)


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise ValueError(text)


def _zero_one(text: str) -> bool:
    """The built-in's 0/1 switches ('0' or '1', as integers): a bool."""
    value = int(text)
    if value not in (0, 1):
        raise ValueError(text)
    return bool(value)


def _shape(text: str) -> tuple[int, int, int]:
    parts = tuple(int(part) for part in text.split(","))
    if len(parts) != 3:
        raise ValueError(text)
    return parts


def _epochs_list(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _word(text: str) -> str:
    return text.strip()


@dataclass(frozen=True)
class Spec:
    """One row of the table: the parser's return type is the value's type (or None when it has no default)."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    check: Callable[[Any], bool]
    accepts: str
    required: bool = False
    builtin: bool = True


def _choice(name, options, default=None, parse=_word, builtin=True):
    listed = ", ".join(f"'{option}'" for option in options)
    return Spec(
        name, parse, default, lambda value: value in options, f"one of the following: {listed}", builtin=builtin
    )


def _switch(name, builtin=True):
    return Spec(name, _zero_one, False, lambda value: True, "one of the following: '0', '1'", builtin=builtin)


def _unit(name, default):
    return Spec(name, _number, default, lambda value: 0.0 <= value <= 1.0, "a float in the range [0, 1]")


def _positive(name, default, required=False, builtin=True):
    return Spec(
        name,
        _integer,
        default,
        lambda value: value > 0,
        "an integer greater than 0",
        required=required,
        builtin=builtin,
    )


TABLE = (
    Spec("num_classes", _integer, None, lambda value: value >= 2, "an integer of at least 2", required=True),
    _positive("num_training_samples", None, required=True),
    _choice("num_layers", RESNET_DEPTHS + CIFAR_DEPTHS, 152, parse=_integer),
    _switch("use_pretrained_model"),
    Spec(
        "image_shape",
        _shape,
        (3, 224, 224),
        lambda shape: shape[0] in (1, 3) and min(shape[1:]) >= 8,
        "'channels,height,width' with 1 or 3 channels and sides of at least 8 pixels, such as '3,224,224'",
    ),
    _positive("epochs", 30),
    Spec("learning_rate", _number, 0.1, lambda value: 0.0 < value <= 1.0, "a float in the range (0, 1]"),
    _unit("lr_scheduler_factor", 0.1),
    Spec(
        "lr_scheduler_step",
        _epochs_list,
        None,
        lambda steps: all(step > 0 for step in steps) and list(steps) == sorted(set(steps)),
        "comma-separated epochs in ascending order, such as '10,20'",
    ),
    _positive("mini_batch_size", 32),
    _choice("optimizer", ("sgd", "nag", "adam", "rmsprop"), "sgd"),
    _unit("momentum", 0.9),
    _unit("weight_decay", 0.0001),
    _unit("beta_1", 0.9),
    _unit("beta_2", 0.999),
    _unit("eps", 1e-8),
    _unit("gamma", 0.9),
    _choice("augmentation_type", ("crop", "crop_color", "crop_color_transform")),
    _positive("resize", None),
    Spec("top_k", _integer, None, lambda value: value > 1, "an integer greater than 1"),
    _positive("checkpoint_frequency", None),
    Spec("early_stopping", _flag, False, lambda value: True, "'True' or 'False'"),
    _positive("early_stopping_min_epochs", 10),
    _positive("early_stopping_patience", 5),
    _unit("early_stopping_tolerance", 0.0),
    _switch("multi_label"),
    _switch("use_weighted_loss"),
    _choice("precision_dtype", ("float32", "float16"), "float32"),
    _choice("kv_store", ("device", "dist_sync", "dist_async")),
    # Ours: defaults leave the built-in behaviour unchanged.
    Spec("seed", _integer, None, lambda value: value >= 0, "an integer of at least 0", builtin=False),
    Spec("freeze_epochs", _integer, 0, lambda value: value >= 0, "an integer of at least 0", builtin=False),
    Spec("trainable_layers", _integer, None, lambda value: value >= 0, "an integer of at least 0", builtin=False),
    Spec("body_lr_mult", _number, 1.0, lambda value: 0.0 < value <= 1.0, "a float in the range (0, 1]", builtin=False),
    _switch("export_onnx", builtin=False),
    # Checked with image_shape and num_layers in _check_network: a catalog name, refused with the closest ones.
    Spec("network", _word, None, lambda value: True, "a network of the README's table", builtin=False),
)
SPECS = {spec.name: spec for spec in TABLE}


@dataclass(frozen=True)
class Hyperparameters:
    """The parsed table, one field per row in the table's order (a test holds the two together)."""

    num_classes: int
    num_training_samples: int
    num_layers: int
    use_pretrained_model: bool
    image_shape: tuple[int, int, int]
    epochs: int
    learning_rate: float
    lr_scheduler_factor: float
    lr_scheduler_step: tuple[int, ...] | None
    mini_batch_size: int
    optimizer: str
    momentum: float
    weight_decay: float
    beta_1: float
    beta_2: float
    eps: float
    gamma: float
    augmentation_type: str | None
    resize: int | None
    top_k: int | None
    checkpoint_frequency: int | None
    early_stopping: bool
    early_stopping_min_epochs: int
    early_stopping_patience: int
    early_stopping_tolerance: float
    multi_label: bool
    use_weighted_loss: bool
    precision_dtype: str
    kv_store: str | None
    seed: int | None
    freeze_epochs: int
    trainable_layers: int | None
    body_lr_mult: float
    export_onnx: bool
    network: str | None
    reserved: dict[str, Any] = field(default_factory=dict)  # SageMaker's own names (sagemaker_*, _ps_port, ...)


def _invalid(spec, raw):
    return UserError(
        f"The value '{raw}' is not valid for the '{spec.name}' hyperparameter which accepts {spec.accepts}"
    )


def _parse_one(spec, raw):
    try:
        value = spec.parse(str(raw))
    except ValueError:
        raise _invalid(spec, raw) from None
    if not spec.check(value):
        raise _invalid(spec, raw)
    return value


def _is_reserved(name):
    return name.startswith(RESERVED_PREFIX) or name in RESERVED_NAMES


def _check_together(values):
    shape = values["image_shape"]
    if values["resize"] is not None and values["resize"] < max(shape[1:]):
        raise UserError(
            f"The value '{values['resize']}' is not valid for the 'resize' hyperparameter: it must be at least "
            f"the image height and width of image_shape ({shape[1]}x{shape[2]}); raise resize or lower image_shape"
        )
    if values["checkpoint_frequency"] is not None and values["checkpoint_frequency"] > values["epochs"]:
        raise UserError(
            f"The value '{values['checkpoint_frequency']}' is not valid for the 'checkpoint_frequency' "
            f"hyperparameter which accepts an integer from 1 to epochs ({values['epochs']})"
        )
    if values["use_pretrained_model"] and values["network"] is None and values["num_layers"] not in PRETRAINED_DEPTHS:
        listed = ", ".join(str(depth) for depth in PRETRAINED_DEPTHS)
        raise UserError(
            f"Pretrained weights exist only for num_layers {listed}; set num_layers to one of them "
            f"or use_pretrained_model=0"
        )


def _check_network(values, given):
    """``network``: a catalog name, sized for image_shape, and num_layers (when given) agreeing with it."""
    name = values["network"]
    if name is None:
        return
    if name not in network_catalog.NETWORKS:
        raise UserError(network_catalog.unknown_network(name))
    problem = network_catalog.size_problem(name, values["image_shape"], values["use_pretrained_model"]) or (
        network_catalog.layers_problem(name, values["num_layers"]) if "num_layers" in given else None
    )
    if problem:
        raise UserError(problem)


def parse(raw_values: Mapping[str, Any]) -> Hyperparameters:
    """Coerce the raw map of hyperparameters into a Hyperparameters object, or raise UserError."""
    values = {}
    reserved = {}
    for name, raw in raw_values.items():
        if _is_reserved(name):
            reserved[name] = raw
            continue
        spec = SPECS.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, SPECS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "remove it"
            raise UserError(f"Unknown hyperparameter '{name}': {hint} (see the README's hyperparameter table)")
        values[name] = _parse_one(spec, raw)
    for spec in TABLE:
        if spec.name not in values:
            if spec.required:
                raise UserError(f"The required hyperparameter '{spec.name}' is missing: set it to {spec.accepts}")
            values[spec.name] = spec.default
    _check_together(values)
    _check_network(values, raw_values)
    return Hyperparameters(reserved=reserved, **values)

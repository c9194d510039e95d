"""The hyperparameters: SageMaker's built-in names, types, defaults and checks, plus ours.

Each is declared once, as a field of ``Hyperparameters`` whose metadata holds its parser, check, message
and default; ``TABLE`` (name, type, default, valid values) is read from those fields, and a test holds the
documentation's table to it. Every value arrives as a string (SageMaker writes hyperparameters.json as
strings to strings) and is coerced explicitly by its field's parser; nothing is guessed with ``json.loads``.
"""

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
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


def _anything(value: Any) -> bool:
    return True


def hyperparameter(
    parse: Callable[[str], Any],
    accepts: str,
    check: Callable[[Any], bool] = _anything,
    default: str | None = None,
    *,
    options: tuple | None = None,
    required: bool = False,
    builtin: bool = True,
) -> Any:
    """One hyperparameter, declared as a field of Hyperparameters, whose name and type are the field's.

    ``parse`` coerces the string a user writes (it returns the field's type); ``check`` says whether the parsed
    value is valid and ``accepts`` what is, in the built-in's words; ``options``, when given, are the only valid
    values (and complete ``accepts``); ``default`` is written as a user writes it, and parsed here; a required
    field has none; ``builtin=False`` marks ours.
    """
    if options is not None:
        accepts += ", ".join(f"'{option}'" for option in options)
        check = options.__contains__
    metadata = dict(parse=parse, check=check, accepts=accepts, written_default=default, options=options)
    metadata["builtin"] = builtin
    if required:
        return field(metadata=metadata)
    return field(default=None if default is None else parse(default), metadata=metadata)


def _choice(options, default=None, parse=_word, builtin=True):
    return hyperparameter(parse, "one of the following: ", default=default, options=options, builtin=builtin)


def _switch(builtin=True):
    return hyperparameter(_zero_one, "one of the following: '0', '1'", default="0", builtin=builtin)


def _unit(default):
    return hyperparameter(_number, "a float in the range [0, 1]", lambda value: 0.0 <= value <= 1.0, default)


def _positive(default=None, required=False):
    return hyperparameter(_integer, "an integer greater than 0", lambda value: value > 0, default, required=required)


def _at_least_zero(default=None):
    return hyperparameter(_integer, "an integer of at least 0", lambda value: value >= 0, default, builtin=False)


def _alpha():
    return hyperparameter(
        _number, "a float of at least 0 (0: off)", lambda value: 0.0 <= value < math.inf, "0", builtin=False
    )


@dataclass(frozen=True, kw_only=True)
class Hyperparameters:
    """The parsed hyperparameters: each field is one, declared with its parser, check, message and default.

    Adding a hyperparameter is adding a field here: TABLE, parse() and the test that holds the documentation's
    table to TABLE all read these fields.
    """

    num_classes: int = hyperparameter(_integer, "an integer of at least 2", lambda value: value >= 2, required=True)
    num_training_samples: int = _positive(required=True)
    num_layers: int = _choice(RESNET_DEPTHS + CIFAR_DEPTHS, "152", parse=_integer)
    use_pretrained_model: bool = _switch()
    image_shape: tuple[int, int, int] = hyperparameter(
        _shape,
        "'channels,height,width' with 1 or 3 channels and sides of at least 8 pixels, such as '3,224,224'",
        lambda shape: shape[0] in (1, 3) and min(shape[1:]) >= 8,
        "3,224,224",
    )
    epochs: int = _positive("30")
    learning_rate: float = hyperparameter(
        _number, "a float in the range (0, 1]", lambda value: 0.0 < value <= 1.0, "0.1"
    )
    lr_scheduler_factor: float = _unit("0.1")
    lr_scheduler_step: tuple[int, ...] | None = hyperparameter(
        _epochs_list,
        "comma-separated epochs in ascending order, such as '10,20'",
        lambda steps: all(step > 0 for step in steps) and list(steps) == sorted(set(steps)),
    )
    mini_batch_size: int = _positive("32")
    optimizer: str = _choice(("sgd", "nag", "adam", "rmsprop"), "sgd")
    momentum: float = _unit("0.9")
    weight_decay: float = _unit("0.0001")
    beta_1: float = _unit("0.9")
    beta_2: float = _unit("0.999")
    eps: float = _unit("1e-8")
    gamma: float = _unit("0.9")
    # randaugment and trivialaugment are ours, the built-in's three its own
    augmentation_type: str | None = _choice(
        ("crop", "crop_color", "crop_color_transform", "randaugment", "trivialaugment")
    )
    resize: int | None = _positive()
    top_k: int | None = hyperparameter(_integer, "an integer greater than 1", lambda value: value > 1)
    checkpoint_frequency: int | None = _positive()
    early_stopping: bool = hyperparameter(_flag, "'True' or 'False'", default="False")
    early_stopping_min_epochs: int = _positive("10")
    early_stopping_patience: int = _positive("5")
    early_stopping_tolerance: float = _unit("0.0")
    multi_label: bool = _switch()
    use_weighted_loss: bool = _switch()
    precision_dtype: str = _choice(("float32", "float16"), "float32")
    kv_store: str | None = _choice(("device", "dist_sync", "dist_async"))
    # Ours: defaults leave the built-in behaviour unchanged.
    seed: int | None = _at_least_zero()
    freeze_epochs: int = _at_least_zero("0")
    trainable_layers: int | None = _at_least_zero()
    body_lr_mult: float = hyperparameter(
        _number, "a float in the range (0, 1]", lambda value: 0.0 < value <= 1.0, "1.0", builtin=False
    )
    dropout_rate: float = hyperparameter(
        _number, "a float in the range [0, 1)", lambda value: 0.0 <= value < 1.0, "0.0", builtin=False
    )
    freeze_batch_norm: bool = _switch(builtin=False)
    export_onnx: bool = _switch(builtin=False)
    quantize: str = _choice(("none", "int8"), "none", builtin=False)
    quantize_calibration_images: int = hyperparameter(
        _integer, "an integer greater than 0", lambda value: value > 0, "512", builtin=False
    )
    # Checked with image_shape and num_layers in _check_network: a catalog name, refused with the closest ones.
    network: str | None = hyperparameter(_word, "a network of docs/networks.md", builtin=False)
    lr_scheduler: str = _choice(("step", "cosine", "poly"), "step", builtin=False)
    warmup_epochs: int = _at_least_zero("0")
    label_smoothing: float = hyperparameter(
        _number, "a float in the range [0, 1)", lambda value: 0.0 <= value < 1.0, "0", builtin=False
    )
    mixup_alpha: float = _alpha()
    cutmix_alpha: float = _alpha()
    mixup_off_epochs: int = _at_least_zero("0")
    no_bias_decay: bool = _switch(builtin=False)
    ema_decay: float = hyperparameter(
        _number, "a float in the range [0, 1) (0: off)", lambda value: 0.0 <= value < 1.0, "0", builtin=False
    )
    zero_init_last_bn: bool = _switch(builtin=False)
    randaugment_n: int = hyperparameter(
        _integer, "an integer of at least 1", lambda value: value >= 1, "2", builtin=False
    )
    randaugment_m: int = hyperparameter(
        _integer, "an integer from 0 to 10", lambda value: 0 <= value <= 10, "9", builtin=False
    )
    random_erasing: float = hyperparameter(
        _number, "a float in the range [0, 1] (0: off)", lambda value: 0.0 <= value <= 1.0, "0", builtin=False
    )
    # Knowledge distillation from the 'teacher' channel (training/distillation.py checks them against it).
    distillation_temperature: float = hyperparameter(
        _number, "a float greater than 0", lambda value: 0.0 < value < math.inf, "1", builtin=False
    )
    distillation_weight: float = hyperparameter(
        _number, "a float in the range [0, 1]", lambda value: 0.0 <= value <= 1.0, "0.5", builtin=False
    )
    reserved: dict[str, Any] = field(default_factory=dict)  # SageMaker's own names (sagemaker_*, _ps_port, ...)


@dataclass(frozen=True)
class Row:
    """One hyperparameter as TABLE holds it, read from its field of Hyperparameters."""

    name: str
    type: Any  # the field's annotation
    parse: Callable[[str], Any]
    check: Callable[[Any], bool]
    accepts: str
    default: Any  # parsed; None when required or unset
    written_default: str | None  # the default as a user writes it
    options: tuple | None
    required: bool
    builtin: bool


TABLE: dict[str, Row] = {
    declared.name: Row(
        name=declared.name,
        type=declared.type,
        default=None if declared.default is MISSING else declared.default,
        required=declared.default is MISSING,
        **declared.metadata,
    )
    for declared in fields(Hyperparameters)
    if declared.metadata
}


def _invalid(row, raw):
    return UserError(f"The value '{raw}' is not valid for the '{row.name}' hyperparameter which accepts {row.accepts}")


def _parse_one(row, raw):
    try:
        value = row.parse(str(raw))
    except ValueError:
        raise _invalid(row, raw) from None
    if not row.check(value):
        raise _invalid(row, raw)
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
    if values["warmup_epochs"] >= values["epochs"]:
        raise UserError(
            f"The value '{values['warmup_epochs']}' is not valid for the 'warmup_epochs' hyperparameter which "
            f"accepts an integer from 0 to epochs - 1 ({values['epochs'] - 1}): training must go on after warm-up"
        )
    if values["lr_scheduler_step"] is not None and values["lr_scheduler"] != "step":
        raise UserError(
            f"lr_scheduler_step sets the epochs of lr_scheduler=step, not of lr_scheduler={values['lr_scheduler']} "
            f"(which decays every batch); remove lr_scheduler_step or set lr_scheduler=step"
        )
    if values["mixup_off_epochs"] and not (values["mixup_alpha"] or values["cutmix_alpha"]):
        raise UserError(
            "mixup_off_epochs sets the last epochs without mixup or CutMix, and neither is on; set mixup_alpha "
            "or cutmix_alpha, or remove mixup_off_epochs"
        )
    if values["mixup_off_epochs"] >= values["epochs"]:
        raise UserError(
            f"The value '{values['mixup_off_epochs']}' is not valid for the 'mixup_off_epochs' hyperparameter "
            f"which accepts an integer from 0 to epochs - 1 ({values['epochs'] - 1})"
        )
    if values["use_pretrained_model"] and values["network"] is None and values["num_layers"] not in PRETRAINED_DEPTHS:
        listed = ", ".join(str(depth) for depth in PRETRAINED_DEPTHS)
        raise UserError(
            f"Pretrained weights exist only for num_layers {listed}; set num_layers to one of them "
            f"or use_pretrained_model=0"
        )


def _check_randaugment(values, given):
    """randaugment_n and randaugment_m belong to augmentation_type=randaugment."""
    named = [name for name in ("randaugment_n", "randaugment_m") if name in given]
    if named and values["augmentation_type"] != "randaugment":
        raise UserError(
            f"{' and '.join(named)} set{'s' if len(named) == 1 else ''} RandAugment's operations, and "
            f"augmentation_type is {values['augmentation_type'] or 'unset'}; set augmentation_type=randaugment, "
            f"or remove {' and '.join(named)}"
        )


def _check_network(values, given):
    """``network``: a catalog name, sized for image_shape, num_layers (when given) agreeing with it, and
    residual blocks for zero_init_last_bn."""
    name = values["network"]
    if name is None:
        return
    if name not in network_catalog.NETWORKS:
        raise UserError(network_catalog.unknown_network(name))
    problem = (
        network_catalog.size_problem(name, values["image_shape"], values["use_pretrained_model"])
        or (network_catalog.layers_problem(name, values["num_layers"]) if "num_layers" in given else None)
        or (network_catalog.zero_init_problem(name) if values["zero_init_last_bn"] else None)
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
        row = TABLE.get(name)
        if row is None:
            close = difflib.get_close_matches(name, TABLE, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "remove it"
            raise UserError(f"Unknown hyperparameter '{name}': {hint} (see docs/hyperparameters.md)")
        values[name] = _parse_one(row, raw)
    for row in TABLE.values():
        if row.name not in values:
            if row.required:
                raise UserError(f"The required hyperparameter '{row.name}' is missing: set it to {row.accepts}")
            values[row.name] = row.default
    _check_together(values)
    _check_randaugment(values, raw_values)
    _check_network(values, raw_values)
    return Hyperparameters(reserved=reserved, **values)

import dataclasses
import re
import types
import typing
from pathlib import Path

import pytest

from image_classifier import hyperparameters
from image_classifier.errors import UserError

REQUIRED = {"num_classes": "4", "num_training_samples": "100"}
# The page whose table documents every hyperparameter (| name | default | valid values |).
HYPERPARAMETER_DOC = Path(__file__).resolve().parents[2] / "docs" / "hyperparameters.md"

# name: (a valid raw value, its parsed value, an invalid raw value)
CASES = {
    "num_classes": ("10", 10, "1"),
    "num_training_samples": ("5000", 5000, "0"),
    "num_layers": ("50", 50, "19"),
    "use_pretrained_model": ("1", True, "2"),
    "image_shape": ("3,32,32", (3, 32, 32), "3,224"),
    "epochs": ("5", 5, "0"),
    "learning_rate": ("0.5", 0.5, "0"),
    "lr_scheduler_factor": ("0.5", 0.5, "1.5"),
    "lr_scheduler_step": ("10,20", (10, 20), "20,10"),
    "mini_batch_size": ("64", 64, "-1"),
    "optimizer": ("adam", "adam", "adadelta"),
    "momentum": ("0.5", 0.5, "2"),
    "weight_decay": ("0.001", 0.001, "-0.1"),
    "beta_1": ("0.8", 0.8, "1.1"),
    "beta_2": ("0.99", 0.99, "x"),
    "eps": ("0.01", 0.01, "-1"),
    "gamma": ("0.95", 0.95, "3"),
    "augmentation_type": ("crop_color", "crop_color", "rotate"),
    "resize": ("256", 256, "0"),
    "top_k": ("5", 5, "1"),
    "checkpoint_frequency": ("2", 2, "0"),
    "early_stopping": ("True", True, "maybe"),
    "early_stopping_min_epochs": ("3", 3, "0"),
    "early_stopping_patience": ("2", 2, "0"),
    "early_stopping_tolerance": ("0.01", 0.01, "2"),
    "multi_label": ("1", True, "yes"),
    "use_weighted_loss": ("1", True, "2"),
    "precision_dtype": ("float16", "float16", "float64"),
    "kv_store": ("dist_sync", "dist_sync", "nccl"),
    "seed": ("7", 7, "-3"),
    "freeze_epochs": ("2", 2, "-1"),
    "trainable_layers": ("0", 0, "x"),
    "body_lr_mult": ("0.1", 0.1, "0"),
    "dropout_rate": ("0.2", 0.2, "1"),
    "freeze_batch_norm": ("1", True, "2"),
    "export_onnx": ("1", True, "2"),
    "quantize": ("int8", "int8", "int4"),
    "quantize_calibration_images": ("64", 64, "0"),
    "network": ("mobilenetv3_large", "mobilenetv3_large", "mobilenetv3"),
    "lr_scheduler": ("cosine", "cosine", "linear"),
    "warmup_epochs": ("2", 2, "-1"),
    "label_smoothing": ("0.1", 0.1, "1"),
    "mixup_alpha": ("0.2", 0.2, "-0.2"),
    "cutmix_alpha": ("1", 1.0, "x"),
    "mixup_off_epochs": ("0", 0, "-1"),
    "no_bias_decay": ("1", True, "2"),
    "ema_decay": ("0.999", 0.999, "1"),
    "zero_init_last_bn": ("1", True, "2"),
    "randaugment_n": ("3", 3, "0"),
    "randaugment_m": ("10", 10, "11"),
    "random_erasing": ("0.25", 0.25, "-0.1"),
    "distillation_temperature": ("4", 4.0, "0"),
    "distillation_weight": ("0.9", 0.9, "1.5"),
}
DEFAULTS = {
    "num_layers": 152,
    "use_pretrained_model": False,
    "image_shape": (3, 224, 224),
    "epochs": 30,
    "learning_rate": 0.1,
    "lr_scheduler_factor": 0.1,
    "lr_scheduler_step": None,
    "mini_batch_size": 32,
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 0.0001,
    "beta_1": 0.9,
    "beta_2": 0.999,
    "eps": 1e-8,
    "gamma": 0.9,
    "augmentation_type": None,
    "resize": None,
    "top_k": None,
    "checkpoint_frequency": None,
    "early_stopping": False,
    "early_stopping_min_epochs": 10,
    "early_stopping_patience": 5,
    "early_stopping_tolerance": 0.0,
    "multi_label": False,
    "use_weighted_loss": False,
    "precision_dtype": "float32",
    "kv_store": None,
    "seed": None,
    "export_onnx": False,
    "quantize": "none",
    "quantize_calibration_images": 512,
    "freeze_epochs": 0,
    "trainable_layers": None,
    "body_lr_mult": 1.0,
    "dropout_rate": 0.0,
    "freeze_batch_norm": False,
    "network": None,
    "lr_scheduler": "step",
    "warmup_epochs": 0,
    "label_smoothing": 0.0,
    "mixup_alpha": 0.0,
    "cutmix_alpha": 0.0,
    "mixup_off_epochs": 0,
    "no_bias_decay": False,
    "ema_decay": 0.0,
    "zero_init_last_bn": False,
    "randaugment_n": 2,
    "randaugment_m": 9,
    "random_erasing": 0.0,
    "distillation_temperature": 1.0,
    "distillation_weight": 0.5,
}


def test_cases_cover_the_whole_table():
    assert set(CASES) == set(hyperparameters.TABLE)
    assert set(DEFAULTS) == {row.name for row in hyperparameters.TABLE.values() if not row.required}


def test_the_table_holds_every_field_but_reserved_in_order():
    names = [declared.name for declared in dataclasses.fields(hyperparameters.Hyperparameters)]
    assert list(hyperparameters.TABLE) + ["reserved"] == names


def test_each_parser_returns_its_field_type():
    """Typed as the parser returns, or that or None when there is no default; the default is of that type."""
    for row in hyperparameters.TABLE.values():
        parsed = typing.get_type_hints(row.parse)["return"]
        assert row.type == (parsed if row.required or row.default is not None else parsed | None), row.name
        assert row.required or conforms(row.default, row.type), row.name


def conforms(value, hint):
    """``value`` is of type ``hint`` (int | None, tuple[int, ...], bool...); a bool is not taken for an int."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, argument) for argument in arguments)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        items = arguments[:1] * len(value) if arguments[-1:] == (...,) else arguments
        return len(value) == len(items) and all(map(conforms, value, items))
    if hint is type(None):
        return value is None
    return type(value) is hint


# What a hyperparameter needs beside it to be valid at all
NEEDS = {"randaugment_n": {"augmentation_type": "randaugment"}, "randaugment_m": {"augmentation_type": "randaugment"}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_parses_a_valid_string(name):
    raw, parsed, _ = CASES[name]
    values = {**REQUIRED, **NEEDS.get(name, {}), name: raw}
    if name == "resize":
        values["image_shape"] = "3,224,224"
    value = getattr(hyperparameters.parse(values), name)
    assert value == parsed
    assert conforms(value, typing.get_type_hints(hyperparameters.Hyperparameters)[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejects_an_invalid_value_in_the_builtin_wording(name):
    _, _, bad = CASES[name]
    with pytest.raises(UserError) as error:
        hyperparameters.parse({**REQUIRED, **NEEDS.get(name, {}), name: bad})
    message = str(error.value)
    assert message.startswith(f"The value '{bad}' is not valid for the '{name}' hyperparameter which accepts ")
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default(name):
    value = getattr(hyperparameters.parse(REQUIRED), name)
    assert value == DEFAULTS[name]
    assert conforms(value, typing.get_type_hints(hyperparameters.Hyperparameters)[name])


def test_optimizer_message_matches_the_builtin_exactly():
    with pytest.raises(
        UserError,
        match=re.escape(
            "The value 'adadelta' is not valid for the 'optimizer' hyperparameter which accepts one of the "
            "following: 'sgd', 'nag', 'adam', 'rmsprop'"
        ),
    ):
        hyperparameters.parse({**REQUIRED, "optimizer": "adadelta"})


@pytest.mark.parametrize("name", ["num_classes", "num_training_samples"])
def test_required(name):
    values = dict(REQUIRED)
    del values[name]
    with pytest.raises(UserError, match=f"required hyperparameter '{name}' is missing"):
        hyperparameters.parse(values)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError, match="Unknown hyperparameter 'learning_rat': did you mean 'learning_rate'"):
        hyperparameters.parse({**REQUIRED, "learning_rat": "0.1"})


def test_reserved_names_are_accepted_and_kept_apart():
    values = {
        **REQUIRED,
        "sagemaker_program": "x",
        "_tuning_objective_metric": "validation:accuracy",
        "_ps_port": "8001",
        "_ps_verbose": "1",
    }
    parsed = hyperparameters.parse(values)
    assert parsed.reserved == {k: v for k, v in values.items() if k not in REQUIRED}


def test_values_are_strings_but_json_numbers_work_too():
    assert hyperparameters.parse({"num_classes": 4, "num_training_samples": 100, "epochs": 3}).epochs == 3


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"resize": "100", "image_shape": "3,224,224"}, "'resize' hyperparameter: it must be at least"),
        ({"checkpoint_frequency": "5", "epochs": "4"}, "accepts an integer from 1 to epochs (4)"),
        ({"use_pretrained_model": "1", "num_layers": "20"}, "Pretrained weights exist only for num_layers"),
        ({"network": "inceptionv3"}, "network=inceptionv3 takes 299x299 images only"),
        ({"network": "densenet121", "image_shape": "3,299,299"}, "set image_shape=3,224,224"),
        ({"network": "resnest50", "image_shape": "3,64,64"}, "network=resnest50 needs images of at least 96x96"),
        ({"network": "mobilenetv2_1.0", "image_shape": "3,16,16"}, "at least 32x32 pixels, not 16x16"),
        ({"network": "resnet101_v1d", "num_layers": "50"}, "num_layers=50 disagrees with network=resnet101_v1d"),
        ({"network": "mobilenetv3_small", "num_layers": "152"}, "remove num_layers"),
    ],
)
def test_combinations(values, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)):
        hyperparameters.parse({**REQUIRED, **values})


@pytest.mark.parametrize(
    "name, closest",
    [
        ("mobilenetv3", "the closest are 'mobilenetv3_large', 'mobilenetv3_small'"),
        ("resnext50", "the closest are 'resnext50_32x4d'"),
        ("se_resnext50", "'se_resnext50_32x4d'"),
    ],
)
def test_an_unknown_network_is_refused_with_the_closest_supported(name, closest):
    with pytest.raises(UserError, match=re.escape(closest)):
        hyperparameters.parse({**REQUIRED, "network": name})


def test_a_network_with_the_agreeing_num_layers_or_without_one_is_accepted():
    assert hyperparameters.parse({**REQUIRED, "network": "resnext50_32x4d", "num_layers": "50"}).num_layers == 50
    parsed = hyperparameters.parse({**REQUIRED, "network": "inceptionv3", "image_shape": "3,299,299"})
    assert (parsed.network, parsed.image_shape) == ("inceptionv3", (3, 299, 299))


def documented_rows():
    """The rows of the documentation's hyperparameter table: (name, default, valid values) as written."""
    lines = HYPERPARAMETER_DOC.read_text().split("\n| name | default | valid values |\n|---|---|---|\n", 1)[1]
    rows = []
    for line in lines.splitlines():
        if not line.startswith("| `"):
            break
        name, default, valid = (cell.strip() for cell in line.strip("|").split(" | ", 2))
        rows.append((name.strip("`"), default, valid))
    return rows


def test_the_documented_table_is_the_source_table():
    """Names in order, defaults as a user writes them, our rows marked 'ours', every option listed."""
    documented = documented_rows()
    assert [name for name, _, _ in documented] == list(hyperparameters.TABLE)
    for name, default, valid in documented:
        row = hyperparameters.TABLE[name]
        expected = "required" if row.required else row.written_default or "none"
        assert default == expected or default.startswith(f"{expected} ("), (name, default, expected)
        assert valid.startswith("ours:") == (not row.builtin), name
        for option in row.options or ():
            assert re.search(rf"\b{re.escape(str(option))}\b", valid), (name, option)

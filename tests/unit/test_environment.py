import json
import re

import pytest

from image_classifier import failure
from image_classifier.environment import Environment
from image_classifier.errors import UserError
from image_classifier.training import supervisor


def write_config(root, name, content):
    path = root / "input" / "config" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def test_reads_the_three_config_files(tmp_path):
    write_config(tmp_path, "hyperparameters.json", {"epochs": "3"})
    write_config(
        tmp_path,
        "inputdataconfig.json",
        {"train": {"ContentType": "application/x-recordio", "TrainingInputMode": "Pipe"}},
    )
    write_config(tmp_path, "resourceconfig.json", {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]})
    env = Environment.load(tmp_path)
    assert env.hyperparameters == {"epochs": "3"}
    assert env.channels["train"].content_type == "application/x-recordio"
    assert env.channels["train"].input_mode == "Pipe"
    assert env.hosts == ("algo-1", "algo-2") and not env.is_master
    assert env.paths.model_dir == tmp_path / "model"
    assert env.paths.failure_file == tmp_path / "output" / "failure"


def test_sagemaker_base_dir_re_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    (tmp_path / "input" / "data" / "train").mkdir(parents=True)
    env = Environment.load()
    assert env.paths.root == tmp_path
    assert list(env.channels) == ["train"]  # no inputdataconfig.json: the folders are the channels
    assert env.hosts == ("algo-1",) and env.is_master


def test_missing_channel_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="The 'validation' channel is missing"):
        Environment.load(tmp_path).channel("validation")


def test_broken_json_is_a_user_error(tmp_path):
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text("{not json")
    with pytest.raises(UserError, match="hyperparameters.json is not valid JSON"):
        Environment.load(tmp_path)


BROKEN_CONFIGS = [
    ("hyperparameters.json", '{"epochs": "3"}'.encode("utf-16"), "is not UTF-8 text.*UTF-16.*save it as UTF-8"),
    ("hyperparameters.json", b'\xff{"epochs": "3"}', "is not UTF-8 text \\(byte 0xff at offset 0\\).*save it as UTF-8"),
    ("hyperparameters.json", b"[]", "holds a JSON list, not an object.*hyperparameter names"),
    ("inputdataconfig.json", b"[]", "holds a JSON list, not an object.*one object per channel"),
    ("inputdataconfig.json", b'{"train": "x"}', "channel 'train' holds a JSON str, not an object"),
    ("resourceconfig.json", b"[]", "holds a JSON list, not an object.*current_host"),
    ("resourceconfig.json", b'{"hosts": []}', '"hosts" is \\[\\]; it must list the training hosts'),
    ("resourceconfig.json", b'{"hosts": ["algo-1"], "current_host": "algo-9"}', '"current_host" "algo-9" is not one'),
]


@pytest.mark.parametrize("name, content, message", BROKEN_CONFIGS)
def test_config_files_not_as_sagemaker_writes_them_are_user_errors(tmp_path, name, content, message):
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / name).write_bytes(content)
    with pytest.raises(UserError, match=f"{name}.*{message}"):
        Environment.load(tmp_path)


@pytest.mark.parametrize("name, content, message", BROKEN_CONFIGS[:4])
def test_train_writes_the_failure_of_a_broken_config(tmp_path, monkeypatch, name, content, message):
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / name).write_bytes(content)
    assert supervisor.main() == failure.USER_ERROR_EXIT
    assert re.match(f".*{name}.*{message}", (tmp_path / "output" / "failure").read_text().splitlines()[0])


def test_an_internal_error_reading_the_environment_goes_through_the_funnel(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(Environment, "load", broken)
    assert supervisor.main() == failure.INTERNAL_ERROR_EXIT
    text = (tmp_path / "output" / "failure").read_text()
    assert text.startswith("Internal error (RuntimeError: boom)") and "Traceback" in text


def test_tensorboard_events_go_to_the_local_path_of_tensorboardoutputconfig(tmp_path):
    assert Environment.load(tmp_path).tensorboard_dir == tmp_path / "output" / "tensorboard"
    write_config(tmp_path, "tensorboardoutputconfig.json", {"LocalPath": str(tmp_path / "board"), "S3OutputPath": ""})
    env = Environment.load(tmp_path)
    assert env.tensorboard_dir == tmp_path / "board" and env.notes == ()


UNUSABLE_TENSORBOARD_CONFIGS = {
    "not json": b"{LocalPath",
    "a list": b'["/opt/ml/output/tensorboard"]',
    "a number": b'{"LocalPath": 3}',
    "empty": b'{"LocalPath": ""}',
}


@pytest.mark.parametrize("content", UNUSABLE_TENSORBOARD_CONFIGS.values(), ids=UNUSABLE_TENSORBOARD_CONFIGS)
def test_an_unusable_tensorboardoutputconfig_falls_back_to_the_default_folder(tmp_path, content):
    (tmp_path / "input" / "config").mkdir(parents=True)
    (tmp_path / "input" / "config" / "tensorboardoutputconfig.json").write_bytes(content)
    env = Environment.load(tmp_path)
    assert env.tensorboard_dir == tmp_path / "output" / "tensorboard"
    (note,) = env.notes
    assert "tensorboardoutputconfig.json" in note and note.endswith(f"go to {tmp_path}/output/tensorboard")


DEBUGGER_CONFIGS = {
    "as the SDK writes them": json.dumps({"LocalPath": "/opt/ml/output/tensors", "HookParameters": {}}).encode(),
    "not json": b"{not json",
    "utf-16": '{"LocalPath": "x"}'.encode("utf-16"),
    "a list": b"[]",
}


@pytest.mark.parametrize("content", DEBUGGER_CONFIGS.values(), ids=DEBUGGER_CONFIGS)
def test_debugger_and_profiler_configs_never_fail_and_are_noted_once(tmp_path, content):
    (tmp_path / "input" / "config").mkdir(parents=True)
    for name in ("debughookconfig.json", "profilerconfig.json"):
        (tmp_path / "input" / "config" / name).write_bytes(content)
    (note,) = Environment.load(tmp_path).notes
    assert note == (
        "debughookconfig.json and profilerconfig.json ask for SageMaker Debugger or Profiler output; this image "
        f"writes no smdebug tensors or profiles: its TensorBoard events go to {tmp_path}/output/tensorboard, its "
        f"diagnostics (metrics.json, evaluation.json, plots) to {tmp_path}/output/data"
    )

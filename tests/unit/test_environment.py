import json

import pytest

from image_classifier.environment import Environment
from image_classifier.errors import UserError


def write_config(root, name, content):
    path = root / "input" / "config" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def test_reads_the_three_config_files(tmp_path):
    write_config(tmp_path, "hyperparameters.json", {"epochs": "3"})
    write_config(tmp_path, "inputdataconfig.json", {"train": {"ContentType": "application/x-recordio",
                                                              "TrainingInputMode": "Pipe"}})
    write_config(tmp_path, "resourceconfig.json", {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]})
    env = Environment.load(tmp_path)
    assert env.hyperparameters == {"epochs": "3"}
    assert env.channels["train"].content_type == "application/x-recordio"
    assert env.channels["train"].input_mode == "Pipe"
    assert env.hosts == ("algo-1", "algo-2") and not env.is_master
    assert env.model_dir == tmp_path / "model"
    assert env.failure_path == tmp_path / "output" / "failure"


def test_sagemaker_base_dir_re_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    (tmp_path / "input" / "data" / "train").mkdir(parents=True)
    env = Environment.load()
    assert env.root == tmp_path
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

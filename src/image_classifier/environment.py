"""The SageMaker training world under /opt/ml, read once into a typed object.

sagemaker_training's own ``environment`` module is not used here: it fixes every path when it is
imported, creates directories under ``~/sagemaker_local`` as a side effect of that import, and
``json.loads`` every hyperparameter value. We read the same three files, with the same names, lazily.
"""
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"


def base_dir():
    """/opt/ml, or where SAGEMAKER_BASE_DIR puts it."""
    return Path(os.environ.get(BASE_DIR_ENV, DEFAULT_BASE_DIR))


def _read_json(path, default):
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON ({error}); fix the file or let SageMaker write it") from None


@dataclass(frozen=True)
class Channel:
    name: str
    path: Path
    content_type: str = ""
    input_mode: str = "File"


@dataclass(frozen=True)
class Environment:
    root: Path
    hyperparameters: dict
    channels: dict = field(default_factory=dict)
    current_host: str = "algo-1"
    hosts: tuple = ("algo-1",)
    network_interface_name: str = "eth0"

    @classmethod
    def load(cls, root=None):
        root = Path(root) if root else base_dir()
        config_dir = root / "input" / "config"
        hyperparameters = _read_json(config_dir / "hyperparameters.json", {})
        if not isinstance(hyperparameters, dict):
            raise UserError("hyperparameters.json must hold a JSON object of names to string values")
        resource_config = _read_json(config_dir / "resourceconfig.json", {})
        data_config = _read_json(config_dir / "inputdataconfig.json", None)
        data_dir = root / "input" / "data"
        if data_config is None:  # a local run without inputdataconfig.json: every folder is a channel
            data_config = {p.name: {} for p in sorted(data_dir.iterdir())} if data_dir.is_dir() else {}
        channels = {
            name: Channel(
                name=name,
                path=data_dir / name,
                content_type=config.get("ContentType", ""),
                input_mode=config.get("TrainingInputMode", "File"),
            )
            for name, config in data_config.items()
        }
        hosts = tuple(resource_config.get("hosts", ["algo-1"]))
        return cls(
            root=root,
            hyperparameters={str(k): v for k, v in hyperparameters.items()},
            channels=channels,
            current_host=resource_config.get("current_host", hosts[0]),
            hosts=hosts,
            network_interface_name=resource_config.get("network_interface_name", "eth0"),
        )

    @property
    def is_master(self):
        return self.current_host == self.hosts[0]

    @property
    def model_dir(self):
        return self.root / "model"

    @property
    def output_dir(self):
        return self.root / "output"

    @property
    def output_data_dir(self):
        return self.output_dir / "data"

    @property
    def failure_path(self):
        return self.output_dir / "failure"

    @property
    def success_path(self):
        return self.output_dir / "success"

    @property
    def checkpoint_dir(self):
        return self.root / "checkpoints"

    def channel(self, name):
        """The channel's folder; a missing or empty channel is the user's to fix."""
        channel = self.channels.get(name)
        if channel is None or not channel.path.exists():
            raise UserError(
                f"The '{name}' channel is missing: add an input channel named '{name}' to the training job "
                f"(locally, a folder input/data/{name})"
            )
        return channel

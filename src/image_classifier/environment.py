"""The SageMaker training world under /opt/ml, read once into a typed object.

sagemaker_training's own ``environment`` module is not used here: it fixes every path when it is
imported, creates directories under ``~/sagemaker_local`` as a side effect of that import, and
``json.loads`` every hyperparameter value. We read the same three files, with the same names, lazily.
Script mode (``training/script_mode.py``) is where it is used, and the only place it is imported.
Its other two services are not used by the built-in path either: host resolution (it waits 15 minutes for
every name, a lone host's own too; ``training/distributed.py`` resolves only several hosts, for 120 s) and
the GPU count (it runs ``nvidia-smi``; ``devices.py`` asks MXNet, which is what trains on them).
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"


@dataclass(frozen=True)
class Paths:
    """SageMaker's layout under /opt/ml (or where SAGEMAKER_BASE_DIR puts it): every path the container uses."""

    root: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> "Paths":
        return cls(Path(environ.get(BASE_DIR_ENV, DEFAULT_BASE_DIR)))

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def input_data_config_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resource_config_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def tensorboard_config_file(self) -> Path:
        """TensorBoardOutputConfig: ``{"LocalPath": ..., "S3OutputPath": ...}``; LocalPath is where events go."""
        return self.config_dir / "tensorboardoutputconfig.json"

    @property
    def debugger_config_files(self) -> tuple[Path, Path]:
        """What the SDK adds for SageMaker Debugger and Profiler to most jobs; smdebug's, not ours to read."""
        return self.config_dir / "debughookconfig.json", self.config_dir / "profilerconfig.json"

    @property
    def data_dir(self) -> Path:
        """One folder per channel (File and FastFile mode; a FIFO per epoch in Pipe mode)."""
        return self.root / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def tensorboard_dir(self) -> Path:
        """Where TensorBoard events go when tensorboardoutputconfig.json names no LocalPath."""
        return self.output_dir / "tensorboard"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def success_file(self) -> Path:
        return self.output_dir / "success"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"


def _read_json(path, default):
    """The JSON in ``path`` (UTF-8, as SageMaker writes it), or ``default`` when there is no such file."""
    if not path.exists():
        return default
    data = path.read_bytes()
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}{_encoding_hint(data)}); "
            f"save it as UTF-8 JSON, as SageMaker writes it"
        ) from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON ({error}); fix the file or let SageMaker write it") from None


def _encoding_hint(data):
    return ", a UTF-16 byte-order mark" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""


def _object(value, path, example):
    """``value`` when it is a JSON object; else the error naming the file and the shape it needs."""
    if not isinstance(value, dict):
        raise UserError(
            f"{path} holds a JSON {type(value).__name__}, not an object; it must be {example}, as SageMaker writes it"
        )
    return value


def _channel_configs(data_config, path):
    _object(data_config, path, 'one object per channel, such as {"train": {"ContentType": "application/x-recordio"}}')
    for name, config in data_config.items():
        _object(config, f"{path}, channel '{name}'", 'an object such as {"ContentType": "application/x-recordio"}')
    return data_config


def _hosts(resource_config, path):
    """(current_host, hosts) from resourceconfig.json; one host, algo-1, without the file."""
    _object(resource_config, path, 'an object such as {"current_host": "algo-1", "hosts": ["algo-1"]}')
    hosts = resource_config.get("hosts", ["algo-1"])
    if not isinstance(hosts, list) or not hosts or not all(isinstance(host, str) and host for host in hosts):
        raise UserError(
            f'{path}: "hosts" is {json.dumps(hosts)}; it must list the training hosts by name, such as '
            f'["algo-1", "algo-2"] (or remove the file for a one-host run)'
        )
    current_host = resource_config.get("current_host", hosts[0])
    if current_host not in hosts:
        raise UserError(
            f'{path}: "current_host" {json.dumps(current_host)} is not one of "hosts" '
            f"{json.dumps(hosts)}; name this host among them"
        )
    return current_host, tuple(hosts)


def _tensorboard_local_path(paths):
    """(LocalPath of tensorboardoutputconfig.json or None, a note when the file is there but unusable).

    The file never fails training: TensorBoard events are a report, and without a usable LocalPath they go to
    the default folder."""
    try:
        config = _read_json(paths.tensorboard_config_file, {})
    except UserError as error:
        return None, f"{error}; TensorBoard events go to {paths.tensorboard_dir}"
    local_path = config.get("LocalPath") if isinstance(config, dict) else config
    if local_path is None:
        return None, None
    if isinstance(local_path, str) and local_path:
        return Path(local_path), None
    return None, (
        f'{paths.tensorboard_config_file} gives no "LocalPath" folder ({json.dumps(config)}); '
        f"TensorBoard events go to {paths.tensorboard_dir}"
    )


def _debugger_note(paths, tensorboard_dir):
    present = [path.name for path in paths.debugger_config_files if path.exists()]
    if not present:
        return None
    return (
        f"{' and '.join(present)} ask for SageMaker Debugger or Profiler output; this image writes no smdebug "
        f"tensors or profiles: its TensorBoard events go to {tensorboard_dir}, its diagnostics (metrics.json, "
        f"evaluation.json, plots) to {paths.output_data_dir}"
    )


@dataclass(frozen=True)
class Channel:
    name: str
    path: Path
    content_type: str = ""
    input_mode: str = "File"
    config: Mapping[str, Any] = field(default_factory=dict)  # its whole entry in inputdataconfig.json

    @property
    def sharded(self) -> bool:
        """ShardedByS3Key: each host sees its own part of the channel."""
        return self.config.get("S3DistributionType") == "ShardedByS3Key"


@dataclass(frozen=True)
class Environment:
    paths: Paths
    hyperparameters: dict[str, Any]
    channels: dict[str, Channel] = field(default_factory=dict)
    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)
    network_interface_name: str = "eth0"
    tensorboard_local_path: Path | None = None  # tensorboardoutputconfig.json's LocalPath
    notes: tuple[str, ...] = ()  # what the job logs once about the optional config files

    @classmethod
    def load(cls, where: "Paths | Path | str | None" = None) -> "Environment":
        """The configuration under ``where`` (a Paths or its root folder; by default SAGEMAKER_BASE_DIR's)."""
        paths = where if isinstance(where, Paths) else Paths(Path(where)) if where else Paths.from_environ()
        hyperparameters = _object(
            _read_json(paths.hyperparameters_file, {}),
            paths.hyperparameters_file,
            'an object of hyperparameter names to string values, such as {"epochs": "10"}',
        )
        resource_config = _read_json(paths.resource_config_file, {})
        current_host, hosts = _hosts(resource_config, paths.resource_config_file)
        data_config = _read_json(paths.input_data_config_file, None)
        data_dir = paths.data_dir
        if data_config is None:  # a local run without inputdataconfig.json: every folder is a channel
            data_config = {p.name: {} for p in sorted(data_dir.iterdir())} if data_dir.is_dir() else {}
        channels = {
            name: Channel(
                name=name,
                path=data_dir / name,
                content_type=config.get("ContentType", ""),
                input_mode=config.get("TrainingInputMode", "File"),
                config=config,
            )
            for name, config in _channel_configs(data_config, paths.input_data_config_file).items()
        }
        tensorboard_local_path, tensorboard_note = _tensorboard_local_path(paths)
        tensorboard_dir = tensorboard_local_path or paths.tensorboard_dir
        return cls(
            paths=paths,
            hyperparameters={str(k): v for k, v in hyperparameters.items()},
            channels=channels,
            current_host=current_host,
            hosts=hosts,
            network_interface_name=resource_config.get("network_interface_name", "eth0"),
            tensorboard_local_path=tensorboard_local_path,
            notes=tuple(filter(None, (tensorboard_note, _debugger_note(paths, tensorboard_dir)))),
        )

    @property
    def tensorboard_dir(self) -> Path:
        """Where TensorBoard events go: TensorBoardOutputConfig's LocalPath, else /opt/ml/output/tensorboard."""
        return self.tensorboard_local_path or self.paths.tensorboard_dir

    @property
    def is_master(self) -> bool:
        return self.current_host == self.hosts[0]

    def channel(self, name: str) -> Channel:
        """The channel's folder; a missing or empty channel is the user's to fix."""
        channel = self.channels.get(name)
        if channel is None or not channel.path.exists():
            raise UserError(
                f"The '{name}' channel is missing: add an input channel named '{name}' to the training job "
                f"(locally, a folder input/data/{name})"
            )
        return channel

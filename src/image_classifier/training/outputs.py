"""What a job writes besides the kept epochs: the model directory's metadata and the reports."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from ..environment import Environment
from ..hyperparameters import Hyperparameters
from ..model import artifacts
from ..model.preprocessing import Preprocessing
from ..reports.reporter import Reporter


@dataclass
class Outputs:
    model_dir: Path
    preprocessing: Preprocessing  # the validation transform, which serving applies
    class_names: dict[int, str]
    reporter: Reporter

    @classmethod
    def build(
        cls, env: Environment, hp: Hyperparameters, sets: SimpleNamespace, preprocessing: Preprocessing
    ) -> "Outputs":
        class_names = {label: sets.train.class_names.get(label, str(label)) for label in range(hp.num_classes)}
        return cls(env.paths.model_dir, preprocessing, class_names, Reporter(env, hp, class_names))

    def write_metadata(self, found_names: Mapping[int, str]) -> None:
        """The model directory's files beside the epochs' parameters (classes, preprocessing); ``found_names``:
        the training set's class names now, which a streamed manifest learns while it is read."""
        self.class_names.update({label: name for label, name in found_names.items() if label in self.class_names})
        artifacts.write_metadata(self.model_dir, self.preprocessing, self.class_names)

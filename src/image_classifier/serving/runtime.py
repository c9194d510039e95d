"""The runtime directory of one ``serve``: nginx's configuration, pid and temporary files, gunicorn's socket, the
readiness that nginx answers /ping from, and a multi-model endpoint's registry of models (registry.py).

It is a fresh directory under the temporary directory (/tmp in the image), so that ``serve`` runs as root and as
any ``--user`` and writes nothing outside /opt/ml and /tmp. It is readable by all (mode 755): nginx's workers run
as ``nobody`` when ``serve`` runs as root, and they reach the socket and the ready file through it.

Readiness: a worker that holds its model publishes ``workers/<pid>`` (gunicorn's post_worker_init hook), and
gunicorn's arbiter withdraws it when the worker exits, however it died (child_exit). ``ready`` exists while any
worker file does, and nginx answers /ping 200 from it without asking a worker, so /ping never queues behind
model work. Each side re-checks after its change, so that a worker's publish racing another's withdrawal
leaves ``ready`` right: a publisher writes its worker file before ``ready``; a withdrawer removes ``ready`` only
when no worker file is left, then puts it back if one appeared meanwhile.
"""

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

RUNTIME_DIR_ENV = "IMAGE_CLASSIFIER_RUNTIME_DIR"  # set by the launcher for gunicorn, not by users


@dataclass(frozen=True)
class RuntimeDir:
    root: Path

    @classmethod
    def create(cls) -> "RuntimeDir":
        root = Path(tempfile.mkdtemp(prefix="image-classifier-serve-"))
        root.chmod(0o755)
        (root / "workers").mkdir()
        (root / "models").mkdir()
        return cls(root)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "RuntimeDir":
        return cls(Path(environ[RUNTIME_DIR_ENV]))

    @property
    def socket(self) -> Path:
        return self.root / "gunicorn.sock"

    @property
    def models_dir(self) -> Path:
        """A multi-model endpoint's registry of loaded models (registry.py)."""
        return self.root / "models"

    @property
    def nginx_conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def ready_file(self) -> Path:
        return self.root / "ready"

    def _worker_file(self, pid: int) -> Path:
        return self.root / "workers" / str(pid)

    def worker_pids(self) -> set[int]:
        """The workers ready now: those a multi-model endpoint's unload waits for (multi_model.py)."""
        return {int(path.name) for path in (self.root / "workers").iterdir()}

    def _any_worker_ready(self) -> bool:
        return any((self.root / "workers").iterdir())

    def publish_ready(self, pid: int) -> None:
        """Worker ``pid`` holds its model."""
        self._worker_file(pid).touch()
        self.ready_file.touch()

    def withdraw_ready(self, pid: int) -> None:
        """Worker ``pid`` is gone."""
        self._worker_file(pid).unlink(missing_ok=True)
        if not self._any_worker_ready():
            self.ready_file.unlink(missing_ok=True)
            if self._any_worker_ready():
                self.ready_file.touch()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

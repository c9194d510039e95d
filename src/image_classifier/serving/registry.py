"""The models a multi-model endpoint has loaded, shared by all its workers: one JSON file per model in the
runtime directory's ``models/`` folder (runtime.py).

An entry appears whole or not at all: it is written aside under a ``.partial-`` name, then hard-linked to its
place, which fails when an entry of that name is there, so of two loads of one name racing in two workers
exactly one wins. It disappears at once (unlink). Its file name is a digest of the model's name, so that any
name SageMaker sends is a safe file name. Each entry carries a load id unique to that load: a name unloaded
and loaded again (perhaps from another directory) is a new entry, which a worker still holding the old model
can tell apart. The registry holds no model; each worker keeps its own copies in step with it (multi_model.py).
"""

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

PARTIAL_PREFIX = ".partial-"
SUFFIX = ".json"


@dataclass(frozen=True)
class Entry:
    name: str
    url: str  # the model's directory, as POST /models gave it
    load_id: str

    @classmethod
    def new(cls, name: str, url: str) -> "Entry":
        return cls(name, url, uuid.uuid4().hex)

    def description(self) -> dict[str, str]:
        """The entry as SageMaker's GET /models lists it."""
        return {"modelName": self.name, "modelUrl": self.url}


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        return self.root / (hashlib.sha256(name.encode()).hexdigest() + SUFFIX)

    @staticmethod
    def _read(path: Path) -> Entry | None:
        try:
            return Entry(**json.loads(path.read_text()))
        except FileNotFoundError:  # unloaded meanwhile
            return None

    def add(self, entry: Entry) -> bool:
        """Registers ``entry``; False (and nothing changed) when a model of its name is registered."""
        partial = self.root / f"{PARTIAL_PREFIX}{entry.load_id}"
        partial.write_text(json.dumps(asdict(entry)))
        try:
            os.link(partial, self._path(entry.name))
        except FileExistsError:
            return False
        finally:
            partial.unlink()
        return True

    def get(self, name: str) -> Entry | None:
        return self._read(self._path(name))

    def remove(self, name: str) -> bool:
        """Unregisters ``name``; False when it was not registered."""
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def remove_entry(self, entry: Entry) -> None:
        """Unregisters ``entry`` if it is still the one registered under its name, not a newer load of the name."""
        registered = self.get(entry.name)
        if registered is not None and registered.load_id == entry.load_id:
            self.remove(entry.name)

    def file_names(self) -> set[str]:
        """The registered entries' file names: one directory read, for a worker to drop what is gone."""
        return {name for name in os.listdir(self.root) if name.endswith(SUFFIX)}

    def file_name(self, name: str) -> str:
        return self._path(name).name

    def entries(self) -> list[Entry]:
        """Every registered entry, by model name."""
        found = (self._read(self.root / file_name) for file_name in self.file_names())
        return sorted((entry for entry in found if entry is not None), key=lambda entry: entry.name)

"""The models a multi-model endpoint has loaded, shared by all its workers: one JSON file per model in the
runtime directory's ``models/`` folder (runtime.py).

An entry appears whole or not at all: it is written aside under a ``.partial-`` name, then hard-linked to its
place, which fails when an entry of that name is there, so of two loads of one name racing in two workers
exactly one wins. It disappears at once (unlink). Its file name is a digest of the model's name, so that any
name SageMaker sends is a safe file name. Each entry carries a load id unique to that load: a name unloaded
and loaded again (perhaps from another directory) is a new entry, which a worker still holding the old model
can tell apart. Each entry also carries the memory its model takes (model_memory.py): a load checks the budget
and registers under an exclusive lock (flock) on the registry, so that two loads in two workers cannot both
fit in what is left for one. The registry holds no model; each worker keeps its own copies in step with it
(multi_model.py).

An unload moves the entry aside, renamed to a file of its own (``ID.unloading``), so that no worker finds the
model any more; each worker that has let its copy go says so with an empty ``ID.PID.released`` beside it, and
the unload ends by removing all of them. While it is aside, the model still counts against the budget: its
memory is not free until the workers have let go.
"""

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

PARTIAL_PREFIX = ".partial-"
LOCK_FILE = ".lock"
SUFFIX = ".json"
UNLOADING = ".unloading"
RELEASED = ".released"


@dataclass(frozen=True)
class Entry:
    name: str
    url: str  # the model's directory, as POST /models gave it
    load_id: str
    memory_bytes: int = 0  # what the model takes in all workers, as the memory budget counts it (model_memory.py)

    @classmethod
    def new(cls, name: str, url: str, memory_bytes: int = 0) -> "Entry":
        return cls(name, url, uuid.uuid4().hex, memory_bytes)

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

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Holds every other worker's ``locked`` off: a load checks the memory budget and registers in one step."""
        with open(self.root / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def used_bytes(self) -> int:
        """The memory the registered models take, and those being unloaded, as the budget counts it."""
        return sum(entry.memory_bytes for entry in [*self.entries(), *self.unloading().values()])

    def get(self, name: str) -> Entry | None:
        return self._read(self._path(name))

    def remove(self, name: str) -> bool:
        """Unregisters ``name``; False when it was not registered."""
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def begin_unload(self, name: str) -> str | None:
        """Moves ``name``'s entry aside for the workers to let go of; its unload's id, or None when not registered."""
        unload_id = uuid.uuid4().hex
        try:
            os.rename(self._path(name), self.root / f"{unload_id}{UNLOADING}")
        except FileNotFoundError:
            return None
        return unload_id

    def unloading(self) -> dict[str, Entry]:
        """The entries being unloaded, by unload id."""
        found = {name.removesuffix(UNLOADING): self._read(self.root / name) for name in self._names(UNLOADING)}
        return {unload_id: entry for unload_id, entry in found.items() if entry is not None}

    def release(self, unload_id: str, pid: int) -> None:
        """Worker ``pid`` has let go of the model of unload ``unload_id``."""
        (self.root / f"{unload_id}.{pid}{RELEASED}").touch()

    def released(self, unload_id: str) -> set[int]:
        """The workers that have let go of the model of unload ``unload_id``."""
        prefix = f"{unload_id}."
        return {int(name[len(prefix) : -len(RELEASED)]) for name in self._names(RELEASED) if name.startswith(prefix)}

    def end_unload(self, unload_id: str) -> None:
        for pid in self.released(unload_id):
            (self.root / f"{unload_id}.{pid}{RELEASED}").unlink(missing_ok=True)
        (self.root / f"{unload_id}{UNLOADING}").unlink(missing_ok=True)

    def remove_entry(self, entry: Entry) -> None:
        """Unregisters ``entry`` if it is still the one registered under its name, not a newer load of the name."""
        registered = self.get(entry.name)
        if registered is not None and registered.load_id == entry.load_id:
            self.remove(entry.name)

    def _names(self, suffix):
        return {name for name in os.listdir(self.root) if name.endswith(suffix)}

    def file_names(self) -> set[str]:
        """The registered entries' file names: one directory read, for a worker to drop what is gone."""
        return self._names(SUFFIX)

    def file_name(self, name: str) -> str:
        return self._path(name).name

    def entries(self) -> list[Entry]:
        """Every registered entry, by model name."""
        found = (self._read(self.root / file_name) for file_name in self.file_names())
        return sorted((entry for entry in found if entry is not None), key=lambda entry: entry.name)

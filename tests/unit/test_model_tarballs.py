"""model.tar.gz unpacking: SageMaker's archives unpack on the image's Python 3.11.2, hostile members are refused."""

import io
import tarfile

import mxnet as mx
import pytest
from transfer_models import tar_model, write_our_model

from image_classifier import hyperparameters
from image_classifier.environment import Channel, Environment, Paths
from image_classifier.errors import UserError
from image_classifier.model import networks, sources, tarballs
from image_classifier.model.transfer import TransferNet


def member(name, kind=tarfile.REGTYPE, data=b"", linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data) if kind == tarfile.REGTYPE else 0, linkname
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None


def archive(tmp_path, *members):
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as packed:
        for info, data in members:
            packed.addfile(info, data)
    return path


@pytest.fixture
def python_3_11_2(monkeypatch):
    """tarfile as Debian bookworm's Python 3.11.2 has it: no ``filter`` argument, no data_filter."""

    def without_filter(method):
        def call(self, *args, **kwargs):
            if "filter" in kwargs:
                raise TypeError(f"{method.__name__}() got an unexpected keyword argument 'filter'")
            return method(self, *args, **kwargs)

        return call

    for name in ("extractall", "extract"):
        monkeypatch.setattr(tarfile.TarFile, name, without_filter(getattr(tarfile.TarFile, name)))
    monkeypatch.delattr(tarfile, "data_filter", raising=False)


def test_sagemaker_layouts_unpack_on_python_3_11_2(tmp_path, python_3_11_2):
    path = archive(
        tmp_path,
        member(".", tarfile.DIRTYPE),
        member("./image-classification-symbol.json", data=b"{}"),
        member("code", tarfile.DIRTYPE),
        member("code/inference.py", data=b"x = 1\n"),
        member("image-classification-0003.params", data=b"\x00\x01"),
    )
    (tmp_path / "out").mkdir()
    tarballs.unpack(path, tmp_path / "out")
    assert (tmp_path / "out" / "image-classification-symbol.json").read_bytes() == b"{}"
    assert (tmp_path / "out" / "code" / "inference.py").read_text() == "x = 1\n"
    assert (tmp_path / "out" / "image-classification-0003.params").read_bytes() == b"\x00\x01"


HOSTILE = {
    "absolute path": (member("/tmp/evil.params", data=b"x"), "an absolute path (/tmp/evil.params)"),
    "escape": (member("model/../../evil.params", data=b"x"), "a path that leaves the archive's folder"),
    "symlink": (
        member("model.params", tarfile.SYMTYPE, linkname="/etc/passwd"),
        "a link (model.params -> /etc/passwd)",
    ),
    "hard link": (
        member("model.params", tarfile.LNKTYPE, linkname="../outside"),
        "a link (model.params -> ../outside)",
    ),
    "character device": (member("null", tarfile.CHRTYPE), "a device or FIFO (null)"),
    "block device": (member("disk", tarfile.BLKTYPE), "a device or FIFO (disk)"),
    "fifo": (member("pipe", tarfile.FIFOTYPE), "a device or FIFO (pipe)"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_refused_by_name_and_nothing_escapes(tmp_path, python_3_11_2, case):
    hostile, fragment = HOSTILE[case]
    path = archive(tmp_path, member("image-classification-symbol.json", data=b"{}"), hostile)
    destination = tmp_path / "deep" / "out"
    destination.mkdir(parents=True)
    with pytest.raises(UserError) as error:
        tarballs.unpack(path, destination)
    message = str(error.value)
    assert fragment in message and "give the model.tar.gz as training wrote it" in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "deep",
        "image-classification-symbol.json",
        "model.tar.gz",
        "out",
    ]


def test_a_damaged_archive_is_a_user_error(tmp_path):
    path = archive(tmp_path, member("image-classification-symbol.json", data=b"{}" * 1000))
    path.write_bytes(path.read_bytes()[:40])
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match="cannot be unpacked .*; give the model.tar.gz as training wrote it"):
        tarballs.unpack(path, tmp_path / "out")


def test_incremental_training_from_a_model_tar_gz_on_python_3_11_2(tmp_path, python_3_11_2):
    """The SDK's Estimator(model_uri=..., model_channel_name="model"): a 'model' channel with model.tar.gz."""
    net = networks.build(20, 3)
    net(mx.nd.zeros((1, 3, 16, 16)))
    model_dir = write_our_model(tmp_path / "trained", net, (3, 16, 16), {0: "a", 1: "b", 2: "c"})
    channel = tmp_path / "data" / "model"
    tar_model(model_dir, channel / "model.tar.gz")
    env = Environment(paths=Paths(tmp_path), hyperparameters={}, channels={"model": Channel("model", channel)})
    hp = hyperparameters.parse(
        {"num_classes": "3", "num_training_samples": "10", "num_layers": "20", "image_shape": "3,16,16"}
    )
    assert isinstance(sources.starting_network(env, hp), TransferNet)

"""ImageNet weights for ``use_pretrained_model=1``: the file in the network's model store cache.

The cache is $MXNET_HOME/models (default ~/.mxnet/models), shared by both model zoos. GluonCV names each file
``{name}-{short_hash}.params``, such as ``resnet18_v1-a0666292.params``; gluoncv2 (the families whose
catalog ``zoo`` is "gluoncv2") ``{name}-{error}-{short_sha1}.params``, such as
``efficientnet_b0b-0670-8892ba58.params``. A file already there (baked into the image, or put there by the
user) is used as it is: the zoos' own ``get_model_file`` would check its sha1 and download it again on a
mismatch. Only a missing file is downloaded, by the zoo's downloader.
"""

import logging
import os
from pathlib import Path

from gluoncv.model_zoo import model_store
from gluoncv2.models import model_store as gluoncv2_store

from ..errors import UserError
from ..network_catalog import NETWORKS

log = logging.getLogger(__name__)
ZOO_NAMES = {"gluoncv": "GluonCV", "gluoncv2": "gluoncv2"}


def cache_dir() -> Path:
    return Path(os.environ.get("MXNET_HOME", "~/.mxnet")).expanduser() / "models"


def zoo_title(name: str) -> str:
    """The model zoo that holds the network ``name`` (a catalog name or a ResNet v1), as the docs spell it."""
    return ZOO_NAMES[NETWORKS[name].zoo if name in NETWORKS else "gluoncv"]


def _file_name(name):
    if zoo_title(name) == "gluoncv2":
        error, sha1, _ = gluoncv2_store.get_model_name_suffix_data(name)
        return f"{name}-{error}-{sha1[:8]}.params"
    return f"{name}-{model_store.short_hash(name)}.params"


def cached_path(name: str) -> Path:
    """Where the model zoo keeps the ImageNet weights of the network ``name``."""
    try:
        file_name = _file_name(name)
    except ValueError:  # the model store names no weights for it
        raise UserError(
            f"{zoo_title(name)} has no ImageNet weights for {name}; set use_pretrained_model=0, give weights in a "
            f"'pretrained' channel, or choose a network that has them (docs/networks.md)"
        ) from None
    return cache_dir() / file_name


def _download(name, folder):
    if zoo_title(name) == "gluoncv2":
        return gluoncv2_store.get_model_file(name, local_model_store_dir_path=str(folder))
    return model_store.get_model_file(name, root=str(folder))


def weights_file(name: str) -> Path:
    """The cached weights file of ``name``, downloaded from its model store if it is not there yet."""
    path = cached_path(name)
    if path.is_file():
        return path
    zoo = zoo_title(name)
    log.info("Downloading %s from %s's model store", path.name, zoo)
    try:
        return Path(_download(name, path.parent))
    except Exception as error:  # the model stores raise plain exceptions for download failures
        raise UserError(
            f"Pretrained weights {path.name} are not in {path.parent} and could not be downloaded "
            f"({type(error).__name__}); put {zoo}'s {path.name} there (MXNET_HOME sets the folder), or give "
            f"the weights in a 'pretrained' channel"
        ) from None

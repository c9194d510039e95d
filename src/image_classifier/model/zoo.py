"""GluonCV's ImageNet weights for ``use_pretrained_model=1``: the file in GluonCV's model store cache.

The cache is $MXNET_HOME/models (default ~/.mxnet/models) and GluonCV names each file
``{name}-{short_hash}.params``, such as ``resnet18_v1-a0666292.params``. A file already there (baked into
the image, or put there by the user) is used as it is: GluonCV's own ``get_model_file`` would check its
sha1 and download it again on a mismatch. Only a missing file is downloaded, by GluonCV's downloader.
"""

import logging
import os
from pathlib import Path

from gluoncv.model_zoo import model_store

from ..errors import UserError

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    return Path(os.environ.get("MXNET_HOME", "~/.mxnet")).expanduser() / "models"


def cached_path(name: str) -> Path:
    """Where GluonCV keeps the ImageNet weights of the model-zoo network ``name``."""
    try:
        short_hash = model_store.short_hash(name)
    except ValueError:  # the model store names no weights for it
        raise UserError(
            f"GluonCV has no ImageNet weights for {name}; set use_pretrained_model=0, give weights in a "
            f"'pretrained' channel, or choose a network that has them (docs/networks.md)"
        ) from None
    return cache_dir() / f"{name}-{short_hash}.params"


def weights_file(name: str) -> Path:
    """The cached weights file of ``name``, downloaded from GluonCV's model store if it is not there yet."""
    path = cached_path(name)
    if path.is_file():
        return path
    log.info("Downloading %s from GluonCV's model store", path.name)
    try:
        return Path(model_store.get_model_file(name, root=str(path.parent)))
    except Exception as error:  # the model store raises plain exceptions for download failures
        raise UserError(
            f"Pretrained weights {path.name} are not in {path.parent} and could not be downloaded "
            f"({type(error).__name__}); put GluonCV's {path.name} there (MXNET_HOME sets the folder), or give "
            f"the weights in a 'pretrained' channel"
        ) from None

"""Tiny real models for the serving unit tests: an untrained CIFAR ResNet-20, exported as `train` exports."""

import json

import mxnet as mx

from image_classifier.model import artifacts, networks
from image_classifier.model.preprocessing import Preprocessing

CLASS_NAMES = {0: "circle", 1: "square", 2: "triangle", 3: "cross"}


def export_model(model_dir, image_shape=(3, 16, 16), multi_label=False, resize=None, builtin=False):
    """A model directory as `train` writes it; ``builtin`` leaves out our classes and preprocessing files."""
    mx.random.seed(0)
    served = networks.with_probabilities(networks.build(20, len(CLASS_NAMES)), multi_label)
    served.hybridize()
    served(mx.nd.zeros((1, *image_shape)))
    artifacts.save_epoch(served, model_dir, 1)
    if builtin:
        (model_dir / artifacts.SHAPES_FILE).write_text(json.dumps([{"name": "data", "shape": [1, *image_shape]}]))
    else:
        artifacts.write_metadata(model_dir, Preprocessing.for_training(image_shape, resize), CLASS_NAMES)
    return model_dir

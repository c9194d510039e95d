"""Tiny real models for the serving unit tests: a CIFAR ResNet-20, untrained or trained a little on the demo
shapes, exported as `train` exports."""

import json

import mxnet as mx
import numpy as np

from image_classifier import demo_data
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


def demo_inputs(count, seed, size=16):
    """Demo images as serving feeds them (the validation transform), and their labels."""
    preprocessing = Preprocessing.for_training((3, size, size), None)
    pairs = demo_data.samples(count, size, seed)
    pixels = np.stack([image for _, image in pairs]).transpose(0, 3, 1, 2).astype(np.float32)
    mean = np.array(preprocessing.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(preprocessing.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return (pixels - mean) / std, np.array([label for label, _ in pairs])


def train_demo_model(model_dir, size=16):
    """A CIFAR ResNet-20 trained a little on the demo shapes (well above chance), saved as `train` saves it."""
    mx.random.seed(0)
    net = networks.build(20, demo_data.NUM_CLASSES)
    net.hybridize()
    trainer = mx.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.002})
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    images, labels = demo_inputs(1024, 0, size)
    for _ in range(6):
        for start in range(0, len(images), 32):
            data, label = mx.nd.array(images[start : start + 32]), mx.nd.array(labels[start : start + 32])
            with mx.autograd.record():
                batch_loss = loss(net(data), label)
            batch_loss.backward()
            trainer.step(data.shape[0])
    served = networks.with_probabilities(net, False)
    served.hybridize()
    served(mx.nd.zeros((1, 3, size, size)))
    artifacts.save_epoch(served, model_dir, 1)
    preprocessing = Preprocessing.for_training((3, size, size), None)
    artifacts.write_metadata(model_dir, preprocessing, dict(enumerate(demo_data.CLASS_NAMES)))
    return model_dir

"""ResNets from GluonCV's model zoo, by the built-in algorithm's ``num_layers``."""

import mxnet as mx
from gluoncv.model_zoo import get_model
from gluoncv.model_zoo.cifarresnet import CIFARBasicBlockV1, CIFARResNetV1
from gluoncv.model_zoo.resnet import BottleneckV1, ResNetV1
from mxnet.gluon import nn

from ..hyperparameters import CIFAR_DEPTHS

RESNET200_LAYERS = [3, 24, 36, 3]
RESNET_CHANNELS = [64, 256, 512, 1024, 2048]
CIFAR_CHANNELS = [16, 16, 32, 64]
# He et al.'s initialisation for convolutions followed by ReLU ("MSRA"), as GluonCV's recipes use.
MSRA_INIT = mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2)


def zoo_name(num_layers):
    return f"resnet{num_layers}_v1"


def architecture(num_layers, num_classes):
    """ResNet v1 (CIFAR-style for 20/32/44/56/110) with ``num_classes`` outputs, not initialised."""
    if num_layers in CIFAR_DEPTHS:
        blocks = (num_layers - 2) // 6
        return CIFARResNetV1(CIFARBasicBlockV1, [blocks] * 3, CIFAR_CHANNELS, classes=num_classes)
    if num_layers == 200:
        return ResNetV1(BottleneckV1, RESNET200_LAYERS, RESNET_CHANNELS, classes=num_classes)
    return get_model(zoo_name(num_layers), classes=num_classes)


def build(num_layers, num_classes):
    """A randomly initialised ResNet v1 (see ``architecture``)."""
    net = architecture(num_layers, num_classes)
    net.initialize(MSRA_INIT)
    return net


def with_probabilities(net, multi_label):
    """The network as served: softmax over classes, or independent sigmoids for multi-label."""
    head = nn.HybridSequential(prefix="")
    head.add(net)
    head.add(nn.Activation("sigmoid") if multi_label else nn.HybridLambda("softmax"))
    return head

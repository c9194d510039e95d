"""ResNets from GluonCV's model zoo, by the built-in algorithm's ``num_layers``."""
import mxnet as mx
from gluoncv.model_zoo import get_model
from gluoncv.model_zoo.cifarresnet import CIFARBasicBlockV1, CIFARResNetV1
from gluoncv.model_zoo.resnet import BottleneckV1, ResNetV1
from mxnet.gluon import nn

from ..errors import UserError
from ..hyperparameters import CIFAR_DEPTHS

RESNET200_LAYERS = [3, 24, 36, 3]
RESNET_CHANNELS = [64, 256, 512, 1024, 2048]
CIFAR_CHANNELS = [16, 16, 32, 64]
# He et al.'s initialisation for convolutions followed by ReLU ("MSRA"), as GluonCV's recipes use.
MSRA_INIT = mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2)


def zoo_name(num_layers):
    return f"resnet{num_layers}_v1"


def build(num_layers, num_classes):
    """A randomly initialised ResNet v1 (CIFAR-style for 20/32/44/56/110) with ``num_classes`` outputs."""
    if num_layers in CIFAR_DEPTHS:
        blocks = (num_layers - 2) // 6
        net = CIFARResNetV1(CIFARBasicBlockV1, [blocks] * 3, CIFAR_CHANNELS, classes=num_classes)
    elif num_layers == 200:
        net = ResNetV1(BottleneckV1, RESNET200_LAYERS, RESNET_CHANNELS, classes=num_classes)
    else:
        net = get_model(zoo_name(num_layers), classes=num_classes)
    net.initialize(MSRA_INIT)
    return net


def pretrained(num_layers, num_classes):
    """GluonCV's ImageNet ResNet with a new ``num_classes`` head; only the head is initialised.

    The weights come from GluonCV's model store, cached under $MXNET_HOME/models (default ~/.mxnet/models).
    """
    name = zoo_name(num_layers)
    try:
        net = get_model(name, pretrained=True)
    except Exception as error:  # the model store raises plain exceptions for download failures
        raise UserError(
            f"Pretrained weights for {name} could not be loaded ({type(error).__name__}); put GluonCV's "
            f"{name}-*.params under $MXNET_HOME/models, or give the container network access to the model store"
        ) from None
    with net.name_scope():
        net.output = nn.Dense(num_classes)
    net.output.initialize(mx.init.Xavier())
    return net


def with_probabilities(net, multi_label):
    """The network as served: softmax over classes, or independent sigmoids for multi-label."""
    head = nn.HybridSequential(prefix="")
    head.add(net)
    head.add(nn.Activation("sigmoid") if multi_label else nn.HybridLambda("softmax"))
    return head

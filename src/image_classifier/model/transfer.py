"""A network that starts from weights: a body (the weights' network up to its classifier's input) and a head.

The body is a SymbolBlock of the graph that ``graph.split_classifier`` cuts, so GluonCV's networks, this
project's exported models and the built-in algorithm's symbolic ResNets all become bodies the same way,
their parameters loaded under the symbol's own names (a symbol and its params file are one pair). The
head is a dense layer created in the TransferNet's name scope: new and the only part initialised, or,
to continue a previous model, that model's classifier.

A frozen part of the body gets no gradients and its batch normalisation uses its running statistics,
so all of its parameters stay bit-identical. The body's symbol is kept with every batch normalisation
in training mode; a frozen variant is derived from it whenever the frozen part changes. Batch norm may also
be kept in inference mode over the whole body while its weights train (the Keras fine-tuning guide's
frozen BatchNormalization): its running statistics then stay bit-identical too. A dropout layer may sit
between the body and the head; it has no parameters, so a saved model's graph still ends in the head.
"""

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import mxnet as mx
from mxnet import gluon
from mxnet.base import MXNetError
from mxnet.gluon import nn

from ..errors import UserError, error_line
from ..hyperparameters import Hyperparameters
from . import graph, networks


def read_arrays(path: Path) -> dict[str, mx.nd.NDArray]:
    """The named arrays of an MXNet .params file, without export's ``arg:``/``aux:`` prefixes."""
    try:
        arrays = mx.nd.load(str(path))
    except MXNetError as error:
        raise UserError(
            f"{path} is not a valid MXNet parameters file ({error_line(error)}); give the file as it was saved"
        ) from None
    if not isinstance(arrays, dict):
        raise UserError(f"{path} holds unnamed arrays, not a network's parameters; give the file as it was saved")
    return {name[4:] if name.startswith(("arg:", "aux:")) else name: array for name, array in arrays.items()}


class TransferNet(gluon.HybridBlock):
    """``body`` (SymbolBlock: images to features) loaded from ``arrays``, then the dense ``head``.

    ``classifier`` (a graph.Classifier whose arrays are in ``arrays``) becomes the head; without it the
    head is new, with ``num_classes`` outputs. ``origin`` names the weights in failure messages.
    """

    def __init__(
        self,
        body_symbol: mx.sym.Symbol,
        arrays: Mapping[str, mx.nd.NDArray],
        num_classes: int,
        image_shape: tuple[int, int, int],
        origin: str,
        classifier: graph.Classifier | None = None,
    ):
        super().__init__()
        self.body_symbol = graph.with_running_statistics(body_symbol, frozenset())
        with self.name_scope():
            self.body = self._symbol_block(self.body_symbol)
        params = self.body.collect_params()
        missing = [name for name in params.keys() if name not in arrays]
        if missing:
            raise UserError(
                f"The parameters of {origin} lack '{missing[0]}' ({len(missing)} of the network's {len(params.keys())} "
                f"are missing); give the params file saved with that network"
            )
        params.load_dict({name: arrays[name] for name in params.keys()})
        in_units = self._feature_size(image_shape, origin)
        with self.name_scope():
            self.head = nn.Dense(num_classes, in_units=in_units)
        self.head.initialize(mx.init.Xavier())
        if classifier is not None:
            self._load_head(arrays, classifier, origin)
        self.dropout = None

    def add_dropout(self, rate: float) -> None:
        """Drop a fraction ``rate`` of the body's features before the head while training (once)."""
        with self.name_scope():
            self.dropout = nn.Dropout(rate)

    @staticmethod
    def _symbol_block(symbol, params=None):
        return gluon.SymbolBlock(symbol, mx.sym.var(graph.INPUT_NAME, dtype="float32"), params=params)

    def _feature_size(self, image_shape, origin):
        try:
            features = self.body(mx.nd.zeros((1, *image_shape)))
        except MXNetError as error:
            shape = ",".join(str(side) for side in image_shape)
            raise UserError(
                f"The network of {origin} cannot run on image_shape {shape} with its parameters "
                f"({error_line(error)}); set image_shape to the channels the network takes, and give its "
                f"own params file"
            ) from None
        return int(features.size)

    def _load_head(self, arrays, classifier, origin):
        weight = arrays[classifier.weight]
        if weight.ndim == 4 and weight.shape[2:] == (1, 1):  # a 1x1 convolution on pooled features is a dense layer
            weight = weight.reshape(weight.shape[:2])
        if weight.shape != self.head.weight.shape:
            raise UserError(
                f"The classifier of {origin} has weights of shape {weight.shape}, but its network's features need "
                f"{self.head.weight.shape}; give the params file saved with that network"
            )
        self.head.weight.set_data(weight)
        if classifier.bias is not None:
            self.head.bias.set_data(arrays[classifier.bias])

    def body_params(self) -> list[gluon.Parameter]:
        return list(self.body.collect_params().values())

    def train_top(self, top_layers: int | None, freeze_batch_norm: bool = False) -> None:
        """Train the head and the body's top ``top_layers`` weighted layers (None: all); freeze the rest.
        ``freeze_batch_norm``: every batch normalisation of the body uses its running statistics."""
        frozen = graph.parameters_below(self.body_symbol, top_layers)
        running = frozen | graph.batch_norm_parameters(self.body_symbol) if freeze_batch_norm else frozen
        params = self.body.collect_params()
        for name in self.body_symbol.list_arguments():
            if name != graph.INPUT_NAME:
                params[name].grad_req = "null" if name in frozen else "write"
        # A new SymbolBlock infers float32 parameters: build it in float32. A new child clears this block's
        # cached graph, so the next call traces the frozen variant.
        with networks.float32_while(self, self.head.weight.dtype):
            self.body = self._symbol_block(graph.with_running_statistics(self.body_symbol, running), params)

    def hybrid_forward(self, F: ModuleType, x: mx.nd.NDArray | mx.sym.Symbol) -> mx.nd.NDArray | mx.sym.Symbol:
        features = self.body(x)
        return self.head(self.dropout(features) if self.dropout is not None else features)


def _structural_names(net: gluon.Block) -> dict[str, str]:
    """{parameter name: its structural name in a save_parameters file, such as 'output.weight'}: Gluon's own
    naming, the one save_parameters and load_parameters use."""
    return {param.name: key for key, param in net._collect_params_with_prefix().items()}


def from_gluoncv_file(path: Path, hp: Hyperparameters, origin: str) -> TransferNet:
    """The job's GluonCV network with the weights of ``path`` (save_parameters), its body under a new head.

    The file's classifier is the parameter that the network's graph puts in its classifier (found by
    ``graph.split_classifier``), under its structural name; its rows are the file's number of classes.
    """
    label = hp.network or "ResNet"
    arrays = read_arrays(Path(path))
    shaped = networks.architecture(hp.num_layers, hp.num_classes, hp.network, hp.image_shape)
    _, classifier = graph.split_classifier(networks.symbol(shaped))
    key = _structural_names(shaped)[classifier.weight]
    if key not in arrays:
        raise UserError(
            f"{path} holds no GluonCV {label}'s parameters (there is no '{key}'); give a GluonCV {label}'s "
            f"save_parameters file, or a model.tar.gz"
        )
    net = networks.architecture(hp.num_layers, arrays[key].shape[0], hp.network, hp.image_shape)
    try:
        net.load_parameters(str(path))
    except (AssertionError, MXNetError) as error:  # how Gluon reports missing, extra and misshapen parameters
        fix = (
            "set network to the network these weights were trained with"
            if hp.network
            else "set num_layers to the depth these weights were trained with"
        )
        network_name = hp.network or f"ResNet-{hp.num_layers}"
        raise UserError(f"{path} does not fit {network_name} ({error_line(error)[:160]}); {fix}") from None
    body, _ = graph.split_classifier(networks.symbol(net))
    arrays = {param.name: param.data() for param in net.collect_params().values()}
    return TransferNet(body, arrays, hp.num_classes, hp.image_shape, origin)

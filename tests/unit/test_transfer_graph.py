"""Reading a network's structure from its graph: this project's GluonCV networks and the built-in's alike."""

import json

import mxnet as mx
import pytest
from transfer_models import builtin_symbol

from image_classifier.model import graph, networks


def served_symbol(num_layers, num_classes=4, multi_label=False):
    """The symbol this project exports for ResNet-``num_layers`` (tracing needs no weights)."""
    served = networks.with_probabilities(networks.architecture(num_layers, num_classes), multi_label)
    return served(mx.sym.var("data"))


@pytest.mark.parametrize("num_layers", [18, 20, 34, 50, 56])
def test_depth_of_our_networks_is_num_layers(num_layers):
    assert graph.depth(served_symbol(num_layers)) == num_layers


def test_depth_of_the_builtin_network_is_its_num_layers():
    assert graph.depth(builtin_symbol(3, num_layers=20)) == 20
    assert graph.depth(builtin_symbol(3, num_layers=32)) == 32


@pytest.mark.parametrize(
    "symbol",
    [served_symbol(20), served_symbol(20, multi_label=True), builtin_symbol(4)],
    ids=["softmax", "sigmoid", "builtin SoftmaxOutput"],
)
def test_split_classifier_cuts_at_the_input_of_the_last_fully_connected_layer(symbol):
    body, classifier = graph.split_classifier(symbol)
    assert classifier.num_outputs == 4
    assert classifier.weight in symbol.list_arguments() and classifier.bias in symbol.list_arguments()
    assert classifier.weight not in body.list_arguments()
    assert "softmax_label" not in body.list_arguments()
    assert body.infer_shape(data=(2, 3, 16, 16))[1][0][:2] == (2, 64)  # the 64 features of a ResNet-20


def test_split_classifier_refuses_a_network_without_a_classifier_at_the_end():
    features = networks.architecture(20, 4).features(mx.sym.var("data"))
    with pytest.raises(ValueError, match="its output comes from a Pooling operator"):
        graph.split_classifier(features)


def test_split_classifier_reads_a_classifier_without_bias():
    fc = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=3, no_bias=True, name="fc")
    _, classifier = graph.split_classifier(mx.sym.softmax(fc))
    assert classifier == graph.Classifier("fc_weight", None, 3)


@pytest.mark.parametrize("kernel, splits", [((1, 1), True), ((3, 3), False)])
def test_split_classifier_reads_a_pointwise_convolution_whose_output_is_flattened(kernel, splits):
    pooled = mx.sym.Pooling(mx.sym.var("data"), global_pool=True, kernel=(1, 1), pool_type="avg")
    conv = mx.sym.Convolution(pooled, num_filter=5, kernel=kernel, pad=(0, 0), name="pred")
    symbol = mx.sym.softmax(mx.sym.Flatten(conv))
    if not splits:
        with pytest.raises(ValueError, match="its output comes from a Convolution operator"):
            graph.split_classifier(symbol)
        return
    body, classifier = graph.split_classifier(symbol)
    assert classifier == graph.Classifier("pred_weight", "pred_bias", 5)
    assert body.infer_shape(data=(2, 8, 4, 4))[1] == [(2, 8, 1, 1)]


def test_layers_follow_the_data():
    symbol = builtin_symbol(2)
    ops = [op for op, _ in graph.layers(symbol)]
    assert ops[:3] == ["BatchNorm", "Convolution", "BatchNorm"]
    assert ops[-2:] == ["BatchNorm", "FullyConnected"]
    assert graph.layers(symbol)[1][1] == ["conv0_weight"]


def test_parameters_below_the_top_layers():
    body, _ = graph.split_classifier(builtin_symbol(2))
    everything = {name for name in body.list_arguments() + body.list_auxiliary_states() if name != "data"}
    assert graph.parameters_below(body, None) == frozenset()
    assert graph.parameters_below(body, 0) == everything
    assert graph.parameters_below(body, 100) == frozenset()
    top_one = graph.parameters_below(body, 1)  # only the last convolution and the batch norm after it train
    assert everything - top_one == {
        "stage3_unit3_conv2_weight",
        "bn1_gamma",
        "bn1_beta",
        "bn1_moving_mean",
        "bn1_moving_var",
    }


def test_running_statistics_only_where_frozen():
    body, _ = graph.split_classifier(builtin_symbol(2))
    frozen = graph.parameters_below(body, 1)
    nodes = json.loads(graph.with_running_statistics(body, frozen).tojson())["nodes"]
    modes = {node["name"]: node["attrs"]["use_global_stats"] for node in nodes if node["op"] == "BatchNorm"}
    assert modes.pop("bn1") == "False"
    assert set(modes.values()) == {"True"}
    nodes = json.loads(graph.with_running_statistics(body, frozenset()).tojson())["nodes"]
    assert {node["attrs"]["use_global_stats"] for node in nodes if node["op"] == "BatchNorm"} == {"False"}

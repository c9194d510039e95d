"""A network's structure, read from its symbol's graph: the classifier at its end, its depth, its layers'
parameters in the order data flows through them, and which batch normalisations use running statistics.

Everything here goes by operators and the edges between them, never by parameter names, so it reads
this project's exported networks (GluonCV's ResNets) and the built-in algorithm's (MXNet's symbolic
ResNet) alike. The input is the variable ``data``, as in model-shapes.json.
"""

import json
from dataclasses import dataclass

import mxnet as mx

INPUT_NAME = "data"
WEIGHTED_OPS = ("Convolution", "FullyConnected")
# Operators that may follow the classifier: probabilities, and the cast back from float16.
PROBABILITY_OPS = ("softmax", "SoftmaxOutput", "SoftmaxActivation", "sigmoid", "LogisticRegressionOutput", "Cast")
# Operators that may follow a 1x1 convolution that classifies pooled features (GluonCV's MobileNets).
FLATTEN_OPS = ("Flatten", "flatten")


@dataclass(frozen=True)
class Classifier:
    """The network's classifier (its last fully connected layer, or a 1x1 convolution whose output is
    flattened): its parameters' names and its number of outputs."""

    weight: str
    bias: str | None
    num_outputs: int


def _graph(symbol):
    return json.loads(symbol.tojson())


def _load(graph):
    return mx.sym.load_json(json.dumps(graph))


def _is_probability(node):
    if node["op"] == "Activation":
        return node.get("attrs", {}).get("act_type") == "sigmoid"
    return node["op"] in PROBABILITY_OPS


def _is_pointwise_convolution(node):
    return node["op"] == "Convolution" and node.get("attrs", {}).get("kernel") in ("(1, 1)", "(1,1)")


def split_classifier(symbol: mx.sym.Symbol) -> tuple[mx.sym.Symbol, Classifier]:
    """(body, classifier): the graph up to the input of its classifier, and that layer.

    The classifier is a fully connected layer at the output, or a 1x1 convolution whose output is flattened;
    only softmax or sigmoid may follow. Raises ValueError for any other output.
    """
    graph = _graph(symbol)
    nodes = graph["nodes"]
    if len(graph["heads"]) != 1:
        raise ValueError(f"it has {len(graph['heads'])} outputs, not one")
    node = nodes[graph["heads"][0][0]]
    while _is_probability(node):
        node = nodes[node["inputs"][0][0]]
    flattened = node["op"] in FLATTEN_OPS
    if flattened:
        node = nodes[node["inputs"][0][0]]
    if not (node["op"] == "FullyConnected" or (flattened and _is_pointwise_convolution(node))):
        raise ValueError(f"its output comes from a {node['op']} operator, not from a fully connected layer")
    attrs = node.get("attrs", {})
    names = [nodes[entry[0]]["name"] for entry in node["inputs"]]
    has_bias = attrs.get("no_bias", "False") not in ("True", "true", "1")
    outputs = attrs["num_hidden"] if node["op"] == "FullyConnected" else attrs["num_filter"]
    graph["heads"] = [node["inputs"][0]]
    return _load(graph), Classifier(names[1], names[2] if has_bias else None, int(outputs))


def ends_in_sigmoid(symbol: mx.sym.Symbol) -> bool:
    """Whether the graph's output is an independent sigmoid per class (a multi-label model), not a softmax."""
    graph = _graph(symbol)
    nodes = graph["nodes"]
    node = nodes[graph["heads"][0][0]]
    while node["op"] == "Cast":
        node = nodes[node["inputs"][0][0]]
    return _is_probability(node) and node["op"] in ("sigmoid", "LogisticRegressionOutput", "Activation")


def parameter_shapes(symbol: mx.sym.Symbol, image_shape: tuple[int, int, int]) -> list[tuple[int, ...]]:
    """The shapes of the graph's parameters (not its running statistics) for one image, in the graph's order:
    two graphs of one network have the same, whatever their parameters are named."""
    shapes, _, _ = symbol.infer_shape(**{INPUT_NAME: (1, *image_shape)})
    return [shape for name, shape in zip(symbol.list_arguments(), shapes) if name != INPUT_NAME]


def depth(symbol: mx.sym.Symbol) -> int:
    """The most weighted layers (convolutions, fully connected) on any path from input to output: a ResNet's depth."""
    graph = _graph(symbol)
    depths = []
    for node in graph["nodes"]:
        below = max((depths[entry[0]] for entry in node["inputs"]), default=0)
        depths.append(below + (node["op"] in WEIGHTED_OPS))
    return max(depths[head[0]] for head in graph["heads"])


def layers(symbol: mx.sym.Symbol) -> list[tuple[str, list[str]]]:
    """(operator, parameter names) of each operator that holds parameters, in the graph's (topological) order.

    Probability operators hold none: a variable they take is a label (SoftmaxOutput's softmax_label).
    """
    nodes = _graph(symbol)["nodes"]
    found = []
    for node in nodes:
        names = [
            nodes[entry[0]]["name"]
            for entry in node["inputs"]
            if nodes[entry[0]]["op"] == "null" and nodes[entry[0]]["name"] != INPUT_NAME
        ]
        if node["op"] != "null" and not _is_probability(node) and names:
            found.append((node["op"], names))
    return found


def parameters_below(symbol: mx.sym.Symbol, top_layers: int | None) -> frozenset[str]:
    """The parameters of every layer before the top ``top_layers`` weighted layers (None: no layer is below)."""
    ordered = layers(symbol)
    weighted = [index for index, (op, _) in enumerate(ordered) if op in WEIGHTED_OPS]
    if top_layers is None or top_layers >= len(weighted):
        cut = 0
    else:
        cut = weighted[-top_layers] if top_layers else len(ordered)
    return frozenset(name for _, names in ordered[:cut] for name in names)


def batch_norm_parameters(symbol: mx.sym.Symbol) -> frozenset[str]:
    """The parameters (scale, shift, running statistics) of every batch normalisation of the graph."""
    return frozenset(name for op, names in layers(symbol) if op == "BatchNorm" for name in names)


def with_running_statistics(symbol: mx.sym.Symbol, frozen: frozenset[str]) -> mx.sym.Symbol:
    """The symbol with each batch normalisation over ``frozen`` parameters using its running statistics
    (neither batch statistics nor updates to them, also in training), and every other one as usual."""
    graph = _graph(symbol)
    nodes = graph["nodes"]
    for node in nodes:
        if node["op"] == "BatchNorm":
            uses_frozen = any(nodes[entry[0]]["name"] in frozen for entry in node["inputs"])
            node.setdefault("attrs", {})["use_global_stats"] = str(uses_frozen)
    return _load(graph)

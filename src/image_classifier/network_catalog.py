"""The classification networks that ``network`` may name, by family, with each family's image sizes and model zoo.

Plain data (no MXNet import), so the hyperparameter checks can use it. Each family is tested on one
member: built, trained a step, exported, loaded as serving loads, and exported to ONNX (tests/unit/
test_networks.py); bench/networks.py measures them. The networks come from GluonCV 0.10.5's model zoo, or
(``zoo="gluoncv2"``) from gluoncv2 0.0.64's (osmr's imgclsmob). Sizes come from their code:
- a network that ends in global pooling takes any size from its ``min_side`` (its output stride, 32 pixels);
- DenseNet, SqueezeNet, Inception v3 and gluoncv2's GhostNet and MixNet end in a fixed-size pooling, so they
  take exactly the size it was built for (``exact_side``): any other size changes their feature count and
  ImageNet weights no longer fit;
- gluoncv2's TensorFlow ports of EfficientNet (the ``b`` and ``c`` variants) and of EfficientNet-Edge pad each
  strided convolution as TensorFlow's "same" does, computed when the network is built for its one input size
  (gluoncv2 asserts it; for EfficientNet-Edge, model/gluoncv2_fixes.py computes it): each takes exactly its own
  size (``exact_side`` by name);
- ResNeSt's DropBlock is built for the input size (``sized_by_input``) and needs 3x3 final features (96 pixels);
- VGG flattens its final features into dense layers: it trains at any size, but ImageNet weights fit only the
  224x224 images they were trained on (``weights_side``).
SqueezeNet's classifier is a convolution before its pooling, not a layer on pooled features, so it cannot
take a new head (``transfer``): it trains from scratch only. Only the ResNet families are built of residual
blocks (``residual_blocks``) for ``zero_init_last_bn``.
"""

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    title: str
    layers: dict[str, int | None]  # network name: its depth as num_layers says it (None: no depth in the name)
    min_side: int = 32
    exact_side: int | dict[str, int] | None = None  # one size for every member, or each member's own
    sized_by_input: bool = False
    transfer: bool = True
    residual_blocks: bool = False  # GluonCV ResNet blocks, whose last batch norm zero_init_last_bn starts at 0
    weights_side: int | None = None  # the only size that ImageNet weights fit, when training takes others
    zoo: str = "gluoncv"  # the model zoo that builds the family: "gluoncv" or "gluoncv2"

    def side(self, name: str) -> int | None:
        """The one image side ``name`` takes, or None when it takes any from ``min_side``."""
        return self.exact_side.get(name) if isinstance(self.exact_side, dict) else self.exact_side


def _depths(pattern, depths):
    return {pattern.format(depth): depth for depth in depths}


# EfficientNet B0 to B8 at the resolutions of the paper (Tan and Le, 2019), as gluoncv2 builds them.
EFFICIENTNET_SIDES = dict(zip(range(9), (224, 240, 260, 300, 380, 456, 528, 600, 672)))
EDGE_SIDES = {"efficientnet_edge_small_b": 224, "efficientnet_edge_medium_b": 240, "efficientnet_edge_large_b": 300}
REGNET_SIZES = ("002", "004", "006", "008", "016", "032", "040", "064", "080", "120", "160", "320")


def _efficientnets(variant, scales):
    return {f"efficientnet_b{scale}{variant}": EFFICIENTNET_SIDES[scale] for scale in scales}


FAMILIES = (
    Family("ResNet v1", _depths("resnet{}_v1", (18, 34, 50, 101, 152)), residual_blocks=True),
    Family("ResNet v2", _depths("resnet{}_v2", (18, 34, 50, 101, 152)), residual_blocks=True),
    Family(
        "ResNet v1b, v1c, v1d, v1s",
        _depths("resnet{}_v1b", (18, 34, 50, 101, 152))
        | {f"resnet{depth}_v1{kind}": depth for kind in "cds" for depth in (50, 101, 152)},
        residual_blocks=True,
    ),
    Family("ResNeXt", {"resnext50_32x4d": 50, "resnext101_32x4d": 101, "resnext101_64x4d": 101}, residual_blocks=True),
    Family(
        "SE-ResNeXt",
        {"se_resnext50_32x4d": 50, "se_resnext101_32x4d": 101, "se_resnext101_64x4d": 101},
        residual_blocks=True,
    ),
    Family(
        "ResNeSt",
        _depths("resnest{}", (14, 26, 50, 101, 200, 269)),
        min_side=96,
        sized_by_input=True,
        residual_blocks=True,
    ),
    Family("MobileNet v1", {f"mobilenet{width}": None for width in ("1.0", "0.75", "0.5", "0.25")}),
    Family("MobileNet v2", {f"mobilenetv2_{width}": None for width in ("1.0", "0.75", "0.5", "0.25")}),
    Family("MobileNet v3", {"mobilenetv3_large": None, "mobilenetv3_small": None}),
    Family("DenseNet", _depths("densenet{}", (121, 161, 169, 201)), exact_side=224),
    Family("Inception v3", {"inceptionv3": None}, exact_side=299),
    Family("Xception", {"xception": 65, "xception71": 71}),
    Family("SqueezeNet", {"squeezenet1.0": None, "squeezenet1.1": None}, exact_side=224, transfer=False),
    Family("VGG", _depths("vgg{}", (11, 13, 16, 19)), weights_side=224),
    Family("VGG with batch norm", {f"vgg{depth}_bn": depth for depth in (11, 13, 16, 19)}, weights_side=224),
    # gluoncv2's port of the PyTorch EfficientNet (symmetric padding): any size, ImageNet weights for B0 and B1.
    Family("EfficientNet", {name: None for name in _efficientnets("", (0, 1))}, zoo="gluoncv2"),
    # The ports of the TensorFlow weights: b (the paper's training), c (AdvProp), each at its own size.
    Family(
        "EfficientNet (TensorFlow weights: b, c AdvProp)",
        {name: None for name in _efficientnets("b", range(8)) | _efficientnets("c", range(9))},
        exact_side=_efficientnets("b", range(8)) | _efficientnets("c", range(9)),
        zoo="gluoncv2",
    ),
    Family("RegNetX", {f"regnetx{size}": None for size in REGNET_SIZES}, zoo="gluoncv2"),
    Family("RegNetY", {f"regnety{size}": None for size in REGNET_SIZES}, zoo="gluoncv2"),
    # Trainable here through model/gluoncv2_fixes.py; both end in a 7x7 average pooling.
    Family("GhostNet", {"ghostnet": None}, exact_side=224, zoo="gluoncv2"),
    Family("MixNet", {"mixnet_s": None, "mixnet_m": None, "mixnet_l": None}, exact_side=224, zoo="gluoncv2"),
    # gluoncv2 asserts these sizes; model/gluoncv2_fixes.py pins the padding to them.
    Family("EfficientNet-Edge", dict.fromkeys(EDGE_SIDES), exact_side=EDGE_SIDES, zoo="gluoncv2"),
)
NETWORKS = {name: family for family in FAMILIES for name in family.layers}


def unknown_network(name: str) -> str:
    """The refusal of a name that is not in the catalog, with the closest names that are."""
    extending = [known for known in NETWORKS if known.startswith(name)]  # 'resnext50' means 'resnext50_32x4d'
    close = list(dict.fromkeys(extending + difflib.get_close_matches(name, NETWORKS, n=3, cutoff=0.5)))[:3]
    hint = f"; the closest are {', '.join(repr(found) for found in close)}" if close else ""
    return (
        f"The value '{name}' is not valid for the 'network' hyperparameter which accepts a classification "
        f"network of docs/networks.md{hint}"
    )


def size_problem(name: str, image_shape: tuple[int, int, int], imagenet_weights: bool = False) -> str | None:
    """Why ``name`` cannot take images of ``image_shape`` (C,H,W), or None when it can; ``imagenet_weights``:
    starting from the model store's ImageNet weights (use_pretrained_model=1)."""
    family = NETWORKS[name]
    height, width = image_shape[1:]
    side = family.side(name)
    if side is not None and (height, width) != (side, side):
        reason = (
            "its padding is built for that size"
            if isinstance(family.exact_side, dict)
            else ("its final pooling is fixed to that size")
        )
        return (
            f"network={name} takes {side}x{side} images only ({reason}), not "
            f"{height}x{width}; set image_shape={image_shape[0]},{side},{side}"
        )
    side = family.weights_side
    if imagenet_weights and side is not None and (height, width) != (side, side):
        return (
            f"network={name} starts from ImageNet weights (use_pretrained_model=1) on {side}x{side} images only (its "
            f"dense layers take that size's features), not {height}x{width}; set image_shape={image_shape[0]},"
            f"{side},{side}, or use_pretrained_model=0"
        )
    if min(height, width) < family.min_side:
        return (
            f"network={name} needs images of at least {family.min_side}x{family.min_side} pixels, not "
            f"{height}x{width}; raise image_shape's height and width to {family.min_side} or more"
        )
    return None


def layers_problem(name: str, num_layers: int) -> str | None:
    """Why a given ``num_layers`` disagrees with ``name``, or None when it agrees."""
    depth = NETWORKS[name].layers[name]
    if depth == num_layers:
        return None
    layers = f" ({depth} layers)" if depth else ""
    return f"num_layers={num_layers} disagrees with network={name}{layers}; remove num_layers (network alone chooses)"


def zero_init_problem(name: str | None) -> str | None:
    """Why ``zero_init_last_bn`` cannot apply to ``name`` (None: ResNet v1 of num_layers), or None when it can."""
    if name is None or NETWORKS[name].residual_blocks:
        return None
    families = ", ".join(family.title for family in FAMILIES if family.residual_blocks)
    return (
        f"zero_init_last_bn=1 starts each residual block's last batch norm at gamma 0, and network={name} "
        f"({NETWORKS[name].title}) has no such blocks; set zero_init_last_bn=0, or choose a network of "
        f"{families} (or num_layers alone)"
    )

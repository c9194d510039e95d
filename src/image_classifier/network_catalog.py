"""The GluonCV classification networks that ``network`` may name, by family, with each family's image sizes.

Plain data (no MXNet import), so the hyperparameter checks can use it. Each family is tested on one
member: built, trained a step, exported, loaded as serving loads, and exported to ONNX (tests/unit/
test_networks.py); bench/networks.py measures them. Sizes come from GluonCV 0.10.5's code:
- a network that ends in global pooling takes any size from its ``min_side`` (its output stride, 32 pixels);
- DenseNet, SqueezeNet and Inception v3 end in a fixed-size pooling, so they take exactly the size it was
  built for (``exact_side``): any other size changes their feature count and ImageNet weights no longer fit;
- ResNeSt's DropBlock is built for the input size (``sized_by_input``) and needs 3x3 final features (96 pixels).
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
    exact_side: int | None = None
    sized_by_input: bool = False
    transfer: bool = True
    residual_blocks: bool = False  # GluonCV ResNet blocks, whose last batch norm zero_init_last_bn starts at 0


def _depths(pattern, depths):
    return {pattern.format(depth): depth for depth in depths}


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
)
NETWORKS = {name: family for family in FAMILIES for name in family.layers}


def unknown_network(name: str) -> str:
    """The refusal of a name that is not in the catalog, with the closest names that are."""
    extending = [known for known in NETWORKS if known.startswith(name)]  # 'resnext50' means 'resnext50_32x4d'
    close = list(dict.fromkeys(extending + difflib.get_close_matches(name, NETWORKS, n=3, cutoff=0.5)))[:3]
    hint = f"; the closest are {', '.join(repr(found) for found in close)}" if close else ""
    return (
        f"The value '{name}' is not valid for the 'network' hyperparameter which accepts a GluonCV classification "
        f"network of docs/networks.md{hint}"
    )


def size_problem(name: str, image_shape: tuple[int, int, int]) -> str | None:
    """Why ``name`` cannot take images of ``image_shape`` (C,H,W), or None when it can."""
    family = NETWORKS[name]
    height, width = image_shape[1:]
    if family.exact_side is not None and (height, width) != (family.exact_side, family.exact_side):
        side = family.exact_side
        return (
            f"network={name} takes {side}x{side} images only (its final pooling is fixed to that size), not "
            f"{height}x{width}; set image_shape={image_shape[0]},{side},{side}"
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

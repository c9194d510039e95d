"""gluoncv2 networks made to train, serve and export on MXNet 1.9.1 with the outputs and parameters gluoncv2 gives.

- GhostNet's ``GhostConvBlock`` and MixNet's ``MixConv`` concatenate feature maps along channels in parts whose
  channel counts are not a multiple of oneDNN's channel block; oneDNN's backward of such a concatenation fails
  in training ("could not construct a sub-memory"). ``apply`` replaces their ``hybrid_forward`` with one that
  concatenates the same parts with their spatial dimensions flattened into one, (N, C, H*W), a layout oneDNN
  does not block by channel, and reshapes the result back to (N, C, H, W). The values and their order are the
  original's, and the blocks' children and parameter names are untouched (gluoncv2's ImageNet weights load).
- EfficientNet-Edge's TensorFlow-padded blocks read their input's shape at run time to compute the padding,
  which a hybridized (trained, served, exported) graph does not have; ``pin_padding`` gives them their input
  sizes for the one image size the network takes, as gluoncv2's EfficientNet does for its own blocks.
The graphs remain plain MXNet operators, which serve and export to ONNX. networks.architecture applies both
when gluoncv2 builds a network.
"""

from collections.abc import Callable

import mxnet as mx
from gluoncv2.models.common import split
from gluoncv2.models.ghostnet import GhostConvBlock
from gluoncv2.models.mixnet import MixConv
from mxnet.gluon import HybridBlock

# gluoncv2's own forward computations, which ``apply`` replaces (and the replacements are tested against).
ORIGINALS = {GhostConvBlock: GhostConvBlock.hybrid_forward, MixConv: MixConv.hybrid_forward}


def _concat_flattened(F, parts, axis: int):
    """``F.concat(*parts, dim=axis)`` computed on the parts flattened after ``axis``, then reshaped back."""
    keep = (0,) * (axis + 1)  # reshape's 0 keeps a dimension; -1 flattens everything after ``axis``
    joined = F.concat(*[F.reshape(part, keep + (-1,)) for part in parts], dim=axis)
    return F.reshape_like(joined, parts[0], lhs_begin=axis + 1, lhs_end=axis + 2, rhs_begin=axis + 1)


def _ghost_conv_forward(self, F, x):
    x = self.main_conv(x)
    return _concat_flattened(F, [x, self.cheap_conv(x)], axis=1)  # GhostConvBlock concatenates on dim 1


def _mix_conv_forward(self, F, x):
    parts = split(x, sizes=self.splitted_in_channels, axis=self.axis)
    return _concat_flattened(F, [conv(part) for part, conv in zip(parts, self._children.values())], self.axis)


def apply() -> None:
    """Replace the blocks' forward computation (idempotent): every GhostNet and MixNet built afterwards trains."""
    GhostConvBlock.hybrid_forward = _ghost_conv_forward
    MixConv.hybrid_forward = _mix_conv_forward


def _blocks(block):
    yield block
    for child in block._children.values():
        yield from _blocks(child)


def _unsized(net):
    """The blocks that pad as TensorFlow does from the input's shape at run time (their ``in_size`` unset)."""
    return [block for block in _blocks(net) if getattr(block, "tf_mode", False) and block.in_size is None]


def pin_padding(net: HybridBlock, build_twin: Callable[[], HybridBlock], image_side: int | None) -> None:
    """Give each block of ``net`` that pads from the input's shape at run time its input size for images of
    ``image_side`` (the one side such a network takes), as gluoncv2's EfficientNet gives its own: a hybridized
    graph has no shapes to read. The sizes are measured on a twin of ``net`` (``build_twin``), run once on such
    an image, since ``net`` itself is not initialised yet. Networks without such blocks are left alone."""
    unsized = _unsized(net)
    if not unsized:
        return
    if image_side is None:
        raise ValueError(f"{net.name} pads from its input's shape: it needs the one image side it takes")
    twin = build_twin()
    measured = _unsized(twin)
    sizes = {}
    for block in measured:
        block.register_forward_pre_hook(lambda block, inputs: sizes.setdefault(block, inputs[0].shape[2:]))
    twin.initialize()
    twin(mx.nd.zeros((1, 3, image_side, image_side)))
    for block, twin_block in zip(unsized, measured, strict=True):
        block.in_size = sizes[twin_block]

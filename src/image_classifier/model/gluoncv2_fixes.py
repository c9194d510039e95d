"""gluoncv2's GhostNet and MixNet blocks, made trainable on MXNet 1.9.1's oneDNN with the same outputs and parameters.

GhostNet's ``GhostConvBlock`` and MixNet's ``MixConv`` concatenate feature maps along channels in parts whose
channel counts are not a multiple of oneDNN's channel block; oneDNN's backward of such a concatenation fails in
training ("could not construct a sub-memory"). ``apply`` replaces their ``hybrid_forward`` with one that
concatenates the same parts with their spatial dimensions flattened into one, (N, C, H*W), a layout oneDNN does
not block by channel, and reshapes the result back to (N, C, H, W). The values and their order are the
original's, the blocks' children and parameter names are untouched (gluoncv2's ImageNet weights and other
GhostNet and MixNet files load as before), and the graph remains plain MXNet operators that serve and export
to ONNX. networks.architecture applies it before gluoncv2 builds a network.
"""

from gluoncv2.models.common import split
from gluoncv2.models.ghostnet import GhostConvBlock
from gluoncv2.models.mixnet import MixConv

ORIGINALS = {GhostConvBlock: GhostConvBlock.hybrid_forward, MixConv: MixConv.hybrid_forward}


def concat_flattened(F, parts, axis: int):
    """``F.concat(*parts, dim=axis)`` computed on the parts flattened after ``axis``, then reshaped back."""
    keep = (0,) * (axis + 1)  # reshape's 0 keeps a dimension; -1 flattens everything after ``axis``
    joined = F.concat(*[F.reshape(part, keep + (-1,)) for part in parts], dim=axis)
    return F.reshape_like(joined, parts[0], lhs_begin=axis + 1, lhs_end=axis + 2, rhs_begin=axis + 1)


def _ghost_conv_forward(self, F, x):
    x = self.main_conv(x)
    return concat_flattened(F, [x, self.cheap_conv(x)], axis=1)  # GhostConvBlock concatenates on dim 1


def _mix_conv_forward(self, F, x):
    parts = split(x, sizes=self.splitted_in_channels, axis=self.axis)
    return concat_flattened(F, [conv(part) for part, conv in zip(parts, self._children.values())], self.axis)


def apply() -> None:
    """Replace the blocks' forward computation (idempotent): every GhostNet and MixNet built afterwards trains."""
    GhostConvBlock.hybrid_forward = _ghost_conv_forward
    MixConv.hybrid_forward = _mix_conv_forward

"""``ema_decay`` (ours; 0 is off): an exponential moving average of the network's weights, which is what each
epoch validates, keeps and exports, while training goes on with the weights themselves.

After update t (1-based, counted here): average = d·average + (1 - d)·weights, with d = min(ema_decay,
(1 + t) / (10 + t)) as TensorFlow's ExponentialMovingAverage with ``num_updates``, so a short job's average does
not hold on to its first weights; it starts as the weights after the first update. Every array of the network
is averaged, batch norm's running mean and variance too (as timm's ModelEmaV2), in float32 on the first device.
A checkpoint saves the average and t beside the network (checkpoints.py), so a resumed job averages on exactly.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mxnet as mx
from mxnet import gluon

UPDATES = "updates"  # the key of t in the saved file, beside the parameters' names


class WeightAverage:
    def __init__(self, net: gluon.Block, decay: float, ctx: mx.Context):
        self.params = dict(net.collect_params().items())
        self.decay = decay
        self.ctx = ctx
        self.updates = 0
        self.average: dict[str, mx.nd.NDArray] | None = None  # None until the first update

    def update(self) -> None:
        """Fold the network's weights after an update into the average."""
        self.updates += 1
        # All of the batch's work done first: reads of batch norm's running statistics, which the hybridized
        # network writes in place, otherwise raced those writes (averages differed between identical runs).
        mx.nd.waitall()
        weights = {name: param.data(self.ctx).astype("float32", copy=True) for name, param in self.params.items()}
        if self.average is None:
            self.average = weights
            return
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for name, weight in weights.items():
            average = self.average[name]
            average *= decay
            average += (1.0 - decay) * weight

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The network holds the average for the duration (none yet: its weights), then its own weights again."""
        if self.average is None:
            yield
            return
        own = {name: param.data(self.ctx).copy() for name, param in self.params.items()}
        for name, param in self.params.items():
            param.set_data(self.average[name].astype(param.dtype))
        try:
            yield
        finally:
            for name, param in self.params.items():
                param.set_data(own[name])

    def save(self, path: Path) -> None:
        """Nothing to save before the first update."""
        if self.average is not None:
            mx.nd.save(str(path), {**self.average, UPDATES: mx.nd.array([self.updates], dtype="float64")})

    def load(self, path: Path) -> None:
        arrays = mx.nd.load(str(path))
        self.updates = int(arrays.pop(UPDATES).asscalar())
        if set(arrays) != set(self.params):
            raise ValueError("its parameters are not the network's")
        self.average = {name: array.as_in_context(self.ctx) for name, array in arrays.items()}

"""Accuracy (and top-k) as the built-in algorithm logs them: ``Epoch[3] Train-accuracy=0.912000``."""

import mxnet as mx


class MultiLabelAccuracy(mx.metric.EvalMetric):
    """The share of (image, class) decisions right when each class's probability is cut at 0.5."""

    def __init__(self, name: str = "accuracy"):
        super().__init__(name)

    def update(self, labels: list[mx.nd.NDArray], preds: list[mx.nd.NDArray]) -> None:
        for label, pred in zip(labels, preds):
            decided = pred.asnumpy() > 0.5
            truth = label.asnumpy() > 0.5
            self.sum_metric += float((decided == truth).sum())
            self.num_inst += truth.size


def make_metrics(multi_label: bool, top_k: int | None) -> mx.metric.CompositeEvalMetric:
    if multi_label:
        return mx.metric.CompositeEvalMetric([MultiLabelAccuracy()])
    metrics = [mx.metric.Accuracy(name="accuracy")]
    if top_k:
        metrics.append(mx.metric.TopKAccuracy(top_k=top_k))  # named top_k_accuracy_K
    return mx.metric.CompositeEvalMetric(metrics)


def update(metric: mx.metric.EvalMetric, labels: mx.nd.NDArray, probabilities: mx.nd.NDArray, valid: int) -> None:
    """Add a batch's first ``valid`` rows to ``metric``."""
    metric.update([labels[:valid]], [probabilities[:valid]])


def epoch_lines(epoch: int, phase: str, metric: mx.metric.EvalMetric) -> list[str]:
    return [f"Epoch[{epoch}] {phase}-{name}={value:f}" for name, value in metric.get_name_value()]


def progress_line(epoch: int, batch: int, speed: float, metric: mx.metric.EvalMetric) -> str:
    values = "\t".join(f"{name}={value:f}" for name, value in metric.get_name_value())
    return f"Epoch[{epoch}] Batch [{batch}]\tSpeed: {speed:.2f} samples/sec\t{values}"


def accuracy(metric: mx.metric.EvalMetric) -> float:
    return dict(metric.get_name_value())["accuracy"]

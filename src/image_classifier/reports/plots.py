"""PNG plots for people: training curves, and the confusion matrix (readable up to about 50 classes).

Drawn with matplotlib's Agg canvas directly: no pyplot state, no display needed.
"""

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

DPI = 100
ANNOTATE_UP_TO = 25  # classes; beyond that the colours carry the matrix and counts would overlap
NAME_CHARACTERS = 18
MAX_RATE_TICKS = 6


def _save(figure, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure).print_png(str(path))


def _phase_lines(axes, epochs, records, metric):
    for phase, style in (("train", "o-"), ("validation", "s-")):
        axes.plot(epochs, [record[phase][metric] for record in records], style, label=phase)
    axes.legend()


def training_curves(records: list[dict], path: Path) -> None:
    """Accuracy and loss of train and validation per epoch, and the learning rate, side by side."""
    figure = Figure(figsize=(15, 4.5), dpi=DPI, layout="constrained")
    accuracy, loss, rate = figure.subplots(1, 3)
    epochs = [record["epoch"] for record in records]
    _phase_lines(accuracy, epochs, records, "accuracy")
    accuracy.set(title="Accuracy", xlabel="epoch", ylim=(0, 1.02))
    _phase_lines(loss, epochs, records, "loss")
    loss.set(title="Loss (cross-entropy)", xlabel="epoch")
    rates = [record["learning_rate"] for record in records]
    rate.plot(epochs, rates, "o-", color="tab:green")
    rate.set(title="Learning rate", xlabel="epoch")
    if min(rates) > 0 and max(rates) >= 10 * min(rates):  # a schedule that steps over decades
        rate.set_yscale("log")
    rate.yaxis.set_minor_locator(NullLocator())
    rate.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0.002, not 2x10^-3
    distinct = sorted(set(rates))
    if len(distinct) <= MAX_RATE_TICKS:  # a step schedule: label each rate it used
        rate.set_yticks(distinct)
    for axes in (accuracy, loss, rate):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    _save(figure, path)


def confusion_matrix(counts: list[list[int]], class_names: list[str], path: Path) -> None:
    """Rows: true class, columns: predicted; coloured by the share of each true class (recall on the diagonal)."""
    counts = np.asarray(counts)
    num_classes = len(counts)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(max(0.35 * num_classes + 3.5, 6), 22)
    font_size = 10 if num_classes <= 20 else 8
    figure = Figure(figsize=(side + 1.5, side), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
    names = [name if len(name) <= NAME_CHARACTERS else name[: NAME_CHARACTERS - 1] + "…" for name in class_names]
    ticks = np.arange(num_classes)
    axes.set_xticks(ticks, names, rotation=90, fontsize=font_size)
    axes.set_yticks(ticks, names, fontsize=font_size)
    axes.set(xlabel="predicted class", ylabel="true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    axes.set_title(f"Confusion matrix: {counts.sum()} validation images, accuracy {accuracy:.3f}")
    if num_classes <= ANNOTATE_UP_TO:
        for (row, column), count in np.ndenumerate(counts):
            if count:
                colour = "white" if shares[row, column] > 0.5 else "black"
                axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=font_size)
    _save(figure, path)

"""What a training job leaves for people: reports in /opt/ml/output/data, TensorBoard in /opt/ml/output/tensorboard.

    metrics.json            per-epoch history (history.py)
    evaluation.json         the kept model on the validation set (evaluation.py)
    training_curves.png     accuracy, loss and learning rate per epoch (plots.py)
    confusion_matrix.png    single-label models (plots.py)
    ../tensorboard/         event files (tensorboard.py)

The training loop talks only to ``reporter.Reporter``.
"""

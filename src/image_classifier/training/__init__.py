"""The training loop and what it decides each epoch: metrics, schedule, which epochs to keep, when to stop."""

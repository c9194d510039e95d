"""Networks, and the artifacts a trained model is made of."""

"""SageMaker's built-in Image Classification (MXNet) algorithm, as a container that runs anywhere."""

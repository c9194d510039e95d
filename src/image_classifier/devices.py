"""Which devices train and serve: every GPU of the host, else the CPU. The one place that decides.

``IMAGE_CLASSIFIER_CPU_CONTEXTS=N`` (ours) trains on N CPU contexts instead of one, which runs the
multi-GPU code path (batch split, gradients reduced by the kvstore) on a host without GPUs.
"""

import os

import mxnet as mx

from .errors import UserError

CPU_CONTEXTS_ENV = "IMAGE_CLASSIFIER_CPU_CONTEXTS"


def training_contexts(precision_dtype: str = "float32") -> list[mx.Context]:
    gpus = [mx.gpu(i) for i in range(mx.context.num_gpus())]
    if precision_dtype == "float16" and not gpus:
        raise UserError(
            "precision_dtype=float16 needs a GPU and this host has none; use precision_dtype=float32 on CPU "
            "or train on a GPU instance (p3, g4dn, g5, p4d)"
        )
    return gpus or [mx.cpu(i) for i in range(int(os.environ.get(CPU_CONTEXTS_ENV, "1")))]


def gpu_count() -> int:
    return mx.context.num_gpus()


def serving_context(worker_slot: int, precision: str = "float32") -> mx.Context:
    """The device of serving worker ``worker_slot``: a GPU of its own (round robin over them), else the CPU."""
    num_gpus = mx.context.num_gpus()
    ctx = mx.gpu(worker_slot % num_gpus) if num_gpus else mx.cpu()
    check_serving_precision(ctx, precision)
    return ctx


def check_serving_precision(ctx: mx.Context, precision: str) -> None:
    """An int8 model is refused on a GPU: MXNet's int8 graph is oneDNN's, which has CPU kernels only. Checked
    for the endpoint's setting at start and for each model a multi-model endpoint loads."""
    if precision == "int8" and ctx.device_type == "gpu":
        raise UserError(
            "int8 models run on CPUs only (MXNet's int8 models are oneDNN's) and this host serves on GPUs; serve "
            "float32 here (unset IMAGE_CLASSIFIER_PRECISION, keep the float32 files) or int8 on a CPU instance"
        )

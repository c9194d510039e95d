"""Knowledge distillation (ours; GluonCV's ``train_imagenet.py --teacher``): a trained model of this project, the
``teacher`` channel, scores every training batch, and the network learns from its softened outputs too.

With temperature T and weight w (``distillation_temperature``, ``distillation_weight``), the loss of an image is

    w · T² · KL(softmax(teacher / T) ‖ softmax(student / T)) + (1 - w) · the label loss

(Hinton et al.; T² keeps the soft term's gradients on the scale of the label loss's as T grows). GluonCV writes
the soft term as the cross-entropy to the teacher's probabilities, which differs from the KL divergence by the
teacher's entropy alone: the same gradients. The label loss is the job's own, on the targets label smoothing and
mixup or CutMix make (targets.py); the teacher sees the same batch, mixed images and all, in inference mode (no
gradients, batch norm on its running statistics) on the network's devices and in its precision. It is fixed,
so a resumed job distils exactly as one never stopped. Distillation is for one label per image: with
multi_label it is refused.
"""

import logging
from types import ModuleType

import mxnet as mx
from mxnet import gluon

from ..environment import Environment
from ..errors import UserError
from ..hyperparameters import TABLE, Hyperparameters
from ..model import sources

log = logging.getLogger(__name__)
SETTINGS = ("distillation_temperature", "distillation_weight")


class DistillationLoss(gluon.HybridBlock):
    """``weight`` of the temperature-softened KL divergence from the teacher's outputs (times T²), plus
    ``1 - weight`` of ``label_loss``; per image."""

    def __init__(self, temperature: float, weight: float, label_loss: gluon.loss.Loss):
        super().__init__()
        self.temperature = temperature
        self.weight = weight
        with self.name_scope():
            self.label_loss = label_loss

    def hybrid_forward(
        self,
        F: ModuleType,
        output: mx.nd.NDArray | mx.sym.Symbol,
        target: mx.nd.NDArray | mx.sym.Symbol,
        teacher_output: mx.nd.NDArray | mx.sym.Symbol,
    ) -> mx.nd.NDArray | mx.sym.Symbol:
        log_student = F.log_softmax(output / self.temperature, axis=-1)
        log_teacher = F.log_softmax(teacher_output / self.temperature, axis=-1)
        divergence = F.sum(F.exp(log_teacher) * (log_teacher - log_student), axis=-1)
        soft = divergence * (self.weight * self.temperature**2)
        return soft + (1.0 - self.weight) * self.label_loss(output, target)


class Teacher:
    """The teacher network on the training devices, in the training precision, for inference only."""

    def __init__(self, net: gluon.HybridBlock, contexts: list[mx.Context], dtype: str):
        net.collect_params().reset_ctx(contexts)
        net.collect_params().setattr("grad_req", "null")
        if dtype != "float32":
            net.cast(dtype)
        net.hybridize(static_alloc=True, static_shape=True)
        self.net = net

    def outputs(self, datas: list[mx.nd.NDArray]) -> list[mx.nd.NDArray]:
        """The teacher's float32 scores of each device's part of the batch (called outside autograd.record)."""
        return [self.net(data).astype("float32", copy=False) for data in datas]


def _check_without_teacher(hp):
    given = [name for name in SETTINGS if getattr(hp, name) != TABLE[name].default]
    if given:
        raise UserError(
            f"{' and '.join(given)} set{'s' if len(given) == 1 else ''} knowledge distillation from a 'teacher' "
            f"channel, and this job has none; give a 'teacher' channel (a model.tar.gz of this project), or remove "
            f"{' and '.join(given)}"
        )


def teacher(env: Environment, hp: Hyperparameters, contexts: list[mx.Context]) -> Teacher | None:
    """The job's teacher (the 'teacher' channel's model), checked against the job; None without the channel."""
    channel = env.channels.get("teacher")
    if channel is None:
        _check_without_teacher(hp)
        return None
    if channel.input_mode == "Pipe":
        raise UserError(
            "The 'teacher' channel is in Pipe mode; give it in File mode (TrainingInputMode File or FastFile)"
        )
    if hp.multi_label:
        raise UserError(
            "Knowledge distillation (the 'teacher' channel) is for one label per image, and multi_label=1; "
            "remove the 'teacher' channel or set multi_label=0"
        )
    net = sources.teacher_network(env, hp)
    log.info(
        "Distilling from the 'teacher' channel's model at temperature %g, weight %g",
        hp.distillation_temperature,
        hp.distillation_weight,
    )
    return Teacher(net, contexts, hp.precision_dtype)

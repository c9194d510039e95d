"""Knowledge distillation: the loss against a hand computation, the teacher as its model serves, the refusals."""

import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from transfer_models import initialised_builtin, tar_model, write_builtin_model, write_our_model

from image_classifier import hyperparameters
from image_classifier.environment import Channel, Environment, Paths
from image_classifier.errors import UserError
from image_classifier.model import artifacts, networks
from image_classifier.training import distillation

SHAPE = (3, 16, 16)
IMAGES = mx.nd.random.uniform(-2, 2, shape=(4, *SHAPE))


def hp(**values):
    raw = {"num_classes": 3, "num_training_samples": 10, "num_layers": 20, "image_shape": "3,16,16", **values}
    return hyperparameters.parse({name: str(value) for name, value in raw.items()})


def log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def hand_loss(student, teacher, targets, temperature, weight):
    """w·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 - w)·cross-entropy(targets, softmax(s)), per row, in NumPy."""
    log_teacher, log_student = log_softmax(teacher / temperature), log_softmax(student / temperature)
    divergence = (np.exp(log_teacher) * (log_teacher - log_student)).sum(axis=1)
    cross_entropy = -(targets * log_softmax(student)).sum(axis=1)
    return weight * temperature**2 * divergence + (1 - weight) * cross_entropy


STUDENT = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [-2.0, 1.5, 1.0]])
TEACHER = np.array([[3.0, 0.0, -1.0], [0.0, 0.0, 4.0], [1.0, 2.0, -0.5]])


@pytest.mark.parametrize("temperature, weight", [(1.0, 0.5), (4.0, 0.3), (2.0, 1.0), (3.0, 0.0)])
def test_the_loss_with_class_ids_against_a_hand_computation(temperature, weight):
    labels = np.array([0, 2, 1])
    loss = distillation.DistillationLoss(temperature, weight, gluon.loss.SoftmaxCrossEntropyLoss())
    got = loss(mx.nd.array(STUDENT), mx.nd.array(labels), mx.nd.array(TEACHER)).asnumpy()
    expected = hand_loss(STUDENT, TEACHER, np.eye(3)[labels], temperature, weight)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_loss_on_the_soft_targets_of_smoothing_and_mixup_against_a_hand_computation():
    """The label part takes per-class targets (smoothed, mixed) as targets.py makes them."""
    targets = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9], [0.4, 0.5, 0.1]])
    loss = distillation.DistillationLoss(2.0, 0.6, gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False))
    got = loss(mx.nd.array(STUDENT), mx.nd.array(targets), mx.nd.array(TEACHER)).asnumpy()
    np.testing.assert_allclose(got, hand_loss(STUDENT, TEACHER, targets, 2.0, 0.6), rtol=1e-4, atol=1e-5)


def test_the_gradient_is_t_times_the_softened_probabilities_gap_plus_the_label_losss():
    """d/ds of w·T²·KL is w·T·(softmax(s/T) - softmax(t/T)): T² keeps it on the label loss's scale."""
    temperature, weight, labels = 4.0, 0.3, np.array([0, 2, 1])
    loss = distillation.DistillationLoss(temperature, weight, gluon.loss.SoftmaxCrossEntropyLoss())
    student = mx.nd.array(STUDENT)
    student.attach_grad()
    with autograd.record():
        value = loss(student, mx.nd.array(labels), mx.nd.array(TEACHER))
    value.backward()
    softened_gap = np.exp(log_softmax(STUDENT / temperature)) - np.exp(log_softmax(TEACHER / temperature))
    label_gap = np.exp(log_softmax(STUDENT)) - np.eye(3)[labels]
    expected = weight * temperature * softened_gap + (1 - weight) * label_gap
    np.testing.assert_allclose(student.grad.asnumpy(), expected, rtol=1e-4, atol=1e-5)


def teacher_net(num_layers, num_classes=3):
    mx.random.seed(0)
    net = networks.build(num_layers, num_classes)
    net(IMAGES)
    return net


@pytest.fixture(scope="module")
def teacher_model(tmp_path_factory):
    """A ResNet-32 with 3 classes saved as this project's model directory: a larger network than the job's."""
    return write_our_model(tmp_path_factory.mktemp("teacher"), teacher_net(32), SHAPE, {0: "a", 1: "b", 2: "c"})


def env_with(tmp_path, folder=None, input_mode="File"):
    """An Environment with ``folder`` as its 'teacher' channel, if given."""
    channels = {} if folder is None else {"teacher": Channel("teacher", folder, input_mode=input_mode)}
    return Environment(paths=Paths(tmp_path), hyperparameters={}, channels=channels)


@pytest.mark.parametrize("packed", [False, True], ids=["files", "model.tar.gz"])
def test_the_teacher_scores_as_its_saved_model_does_on_the_jobs_devices(tmp_path, teacher_model, packed):
    folder = tar_model(teacher_model, tmp_path / "teacher" / "model.tar.gz").parent if packed else teacher_model
    contexts = [mx.cpu(0), mx.cpu(1)]
    teacher = distillation.teacher(env_with(tmp_path, folder), hp(), contexts)
    scores = teacher.outputs([IMAGES[:2].as_in_context(contexts[0]), IMAGES[2:].as_in_context(contexts[1])])
    assert [part.context for part in scores] == contexts
    served = artifacts.load(teacher_model)(IMAGES).asnumpy()
    probabilities = mx.nd.softmax(mx.nd.concat(*[part.as_in_context(mx.cpu()) for part in scores], dim=0))
    np.testing.assert_allclose(probabilities.asnumpy(), served, rtol=1e-4, atol=1e-6)
    assert all(param.grad_req == "null" for param in teacher.net.collect_params().values())


def test_without_a_teacher_channel_there_is_no_teacher(tmp_path):
    assert distillation.teacher(env_with(tmp_path), hp(), [mx.cpu()]) is None


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"distillation_temperature": 2}, "distillation_temperature sets knowledge distillation from a 'teacher'"),
        (
            {"distillation_temperature": 2, "distillation_weight": 0.9},
            "distillation_temperature and distillation_weight set knowledge distillation",
        ),
    ],
)
def test_distillation_settings_without_a_teacher_channel_are_refused_by_name(tmp_path, values, fragment):
    with pytest.raises(UserError, match=re.escape(fragment) + ".*give a 'teacher' channel"):
        distillation.teacher(env_with(tmp_path), hp(**values), [mx.cpu()])


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"num_classes": 4}, "The model in the 'teacher' channel has num_classes=3 (this job: 4)"),
        ({"image_shape": "3,24,24"}, "has image_shape=3,16,16 (this job: 3,24,24)"),
        ({"multi_label": 1}, "is for one label per image, and multi_label=1"),
    ],
)
def test_a_teacher_that_does_not_fit_the_job_is_refused_by_name(tmp_path, teacher_model, values, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)):
        distillation.teacher(env_with(tmp_path, teacher_model), hp(**values), [mx.cpu()])


def test_a_teacher_normalised_otherwise_is_refused_by_name(tmp_path):
    """The built-in algorithm's models take unnormalised pixels; this job's batches are normalised."""
    folder = write_builtin_model(tmp_path / "builtin", *initialised_builtin(3, SHAPE), SHAPE)
    with pytest.raises(UserError, match="takes images normalised with mean 0.0,0.0,0.0 and std 1.0,1.0,1.0"):
        distillation.teacher(env_with(tmp_path, folder), hp(), [mx.cpu()])


def test_a_multi_label_teacher_is_refused_by_name(tmp_path):
    folder = write_our_model(tmp_path / "multi", teacher_net(20), SHAPE, {}, multi_label=True)
    with pytest.raises(UserError, match=r"'teacher' channel is multi-label \(a sigmoid per class\).*multi_label=0"):
        distillation.teacher(env_with(tmp_path, folder), hp(), [mx.cpu()])


def test_a_teacher_in_pipe_mode_is_refused_by_name(tmp_path, teacher_model):
    with pytest.raises(UserError, match="The 'teacher' channel is in Pipe mode; give it in File mode"):
        distillation.teacher(env_with(tmp_path, teacher_model, "Pipe"), hp(), [mx.cpu()])


def test_an_empty_teacher_channel_is_refused_by_name(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="The 'teacher' channel is empty"):
        distillation.teacher(env_with(tmp_path, tmp_path / "empty"), hp(), [mx.cpu()])


@pytest.mark.parametrize("raw", ["0", "-1", "inf", "x"])
def test_a_temperature_not_above_0_is_refused_by_name(raw):
    with pytest.raises(UserError, match="'distillation_temperature' hyperparameter which accepts a float greater"):
        hp(distillation_temperature=raw)


@pytest.mark.parametrize("raw", ["-0.1", "1.5"])
def test_a_weight_outside_0_to_1_is_refused_by_name(raw):
    with pytest.raises(UserError, match=r"'distillation_weight' hyperparameter which accepts a float in the range"):
        hp(distillation_weight=raw)

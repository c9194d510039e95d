"""Knowledge distillation through the real `train` command: a self-made teacher (a larger network than the job's,
saved as this project's model.tar.gz) in the 'teacher' channel, on two CPU contexts, with CutMix and smoothing."""

import mxnet as mx
from training_process import TINY, failure_text, run_train
from transfer_models import add_channel, teacher_archive

from image_classifier import demo_data
from image_classifier.model import artifacts, graph

SIZE = 16


def distillation_job(tmp_path, teacher_classes, **hyperparameters):
    base_dir = demo_data.write_job(tmp_path / "ml", 64, 40, SIZE, **{**TINY, **hyperparameters})
    add_channel(base_dir, "teacher", teacher_archive(tmp_path, 32, teacher_classes, SIZE))
    return base_dir


def test_a_job_distils_from_its_teacher_and_writes_its_own_model(tmp_path):
    settings = dict(distillation_temperature=2, distillation_weight=0.7, label_smoothing=0.1, cutmix_alpha=1.0)
    base_dir = distillation_job(tmp_path, len(demo_data.CLASS_NAMES), **settings)
    result = run_train(base_dir, env={"IMAGE_CLASSIFIER_CPU_CONTEXTS": "2"})
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Distilling from the 'teacher' channel's model at temperature 2, weight 0.7" in output
    assert "split over 2 device(s)" in output
    assert "Epoch[0] Validation-accuracy=" in output
    model_dir = base_dir / "model"
    assert not artifacts.missing_files(model_dir)
    assert graph.depth(mx.sym.load(str(model_dir / artifacts.SYMBOL_FILE))) == 20  # the job's network, not the teacher


def test_a_teacher_of_other_classes_fails_the_job_naming_the_fix(tmp_path):
    base_dir = distillation_job(tmp_path, 3)
    result = run_train(base_dir)
    assert result.returncode == 1
    first_line = failure_text(base_dir).splitlines()[0]
    assert first_line.startswith("The model in the 'teacher' channel has num_classes=3 (this job: 4);"), first_line

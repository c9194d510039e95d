"""RandAugment, TrivialAugment and random erasing: the operations against hand computations, the draws, the
worker processes against the same work in-process, the reader's pixels, and the refusals by name."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from image_classifier import demo_data, hyperparameters
from image_classifier.data import augment_workers, augmentation, iterators, recordio
from image_classifier.data.augmentation import Augmentation, augment_images, erasing_box, image_generator
from image_classifier.data.spec import DataSpec
from image_classifier.environment import Channel
from image_classifier.errors import UserError
from image_classifier.model.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from image_classifier.training.epoch_data import EpochData

PAPER_OPERATIONS = {
    "identity",
    "autocontrast",
    "equalize",
    "rotate",
    "solarize",
    "color",
    "posterize",
    "contrast",
    "brightness",
    "sharpness",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
}


def parse(**values):
    return hyperparameters.parse({"num_classes": "4", "num_training_samples": "40", **values})


def policy(name=None, operations=2, magnitude=9, erasing=0.0, channels=3):
    return Augmentation(name, operations, magnitude, erasing, IMAGENET_MEAN[:channels], IMAGENET_STD[:channels])


def pixels(count=1, channels=3, height=20, width=20, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, channels, height, width)).astype(np.uint8)


def normalised(image, channels=3):
    mean = np.array(IMAGENET_MEAN[:channels], np.float32)[:, None, None]
    return (image.astype(np.float32) - mean) / np.array(IMAGENET_STD[:channels], np.float32)[:, None, None]


def test_the_operations_are_the_papers_fourteen():
    assert set(augmentation.NAMES) == PAPER_OPERATIONS


def test_randaugment_draws_n_operations_at_magnitude_m_over_10():
    draws = [policy("randaugment", 3, 7).draws(image_generator(1, 0, 0, number)) for number in range(300)]
    assert all(len(chosen) == 3 for chosen in draws)
    assert {strength for chosen in draws for _, strength, _ in chosen} == {0.7}
    names = [name for chosen in draws for name, _, _ in chosen]
    assert set(names) == PAPER_OPERATIONS  # uniform over 14: 900 draws miss none
    assert sum(sign for chosen in draws for _, _, sign in chosen) == pytest.approx(0, abs=90)


def test_trivialaugment_draws_one_operation_at_a_uniform_magnitude_of_0_to_30():
    draws = [policy("trivialaugment").draws(image_generator(2, 1, 3, number)) for number in range(3000)]
    assert all(len(chosen) == 1 for chosen in draws)
    levels = [round(chosen[0][1] * 30) for chosen in draws]
    assert set(levels) == set(range(31))
    assert np.mean(levels) == pytest.approx(15, abs=0.6)


def test_the_draws_depend_on_seed_epoch_batch_and_image_alone():
    ours = policy("randaugment", erasing=0.5)
    image = pixels()[0]
    first = ours.image(image, image_generator(4, 2, 9, 5))
    np.testing.assert_array_equal(first, ours.image(image, image_generator(4, 2, 9, 5)))
    others = [(5, 2, 9, 5), (4, 3, 9, 5), (4, 2, 8, 5), (4, 2, 9, 6)]
    assert all(ours.draws(image_generator(*key)) != ours.draws(image_generator(4, 2, 9, 5)) for key in others)


@pytest.mark.parametrize("channels", [1, 3])
def test_solarize_and_posterize_at_full_strength_against_a_hand_computation(channels):
    ours, image = policy("randaugment", channels=channels), pixels(channels=channels)[0]
    np.testing.assert_array_equal(ours.apply(image, [("solarize", 1.0, 1)]), 255 - image)  # threshold 0
    np.testing.assert_array_equal(ours.apply(image, [("posterize", 1.0, -1)]), image & 0xF0)  # 4 bits
    np.testing.assert_array_equal(ours.apply(image, [("identity", 1.0, 1)]), image)


@pytest.mark.parametrize("channels", [1, 3])
def test_translation_shifts_by_its_share_of_the_side_and_fills_with_the_mean(channels):
    ours, image = policy("randaugment", channels=channels), pixels(channels=channels)[0]
    moved = ours.apply(image, [("translate_x", 1.0, 1)])  # 0.45 of 20 pixels: 9, to the left
    np.testing.assert_array_equal(moved[:, :, :11], image[:, :, 9:])
    fill = np.array([round(value) for value in IMAGENET_MEAN[:channels]])[:, None, None]
    np.testing.assert_array_equal(moved[:, :, 11:], np.broadcast_to(fill, (channels, 20, 9)))
    down = policy("trivialaugment", channels=channels).apply(image, [("translate_y", 0.25, -1)])  # 32 px / 4
    np.testing.assert_array_equal(down[:, 8:, :], image[:, :12, :])


def test_without_operations_an_image_is_normalised_as_the_model_expects():
    image = pixels()[0]
    np.testing.assert_allclose(policy(erasing=0.0).image(image, image_generator(0, 0, 0, 0)), normalised(image))
    preprocessing = Preprocessing.for_training((3, 20, 20), None)
    np.testing.assert_allclose(normalised(image), preprocessing.apply(image.transpose(1, 2, 0)), atol=1e-6)


def test_the_erasing_box_covers_2_to_33_percent_at_an_aspect_ratio_of_0_3_to_3_3():
    for number in range(500):
        top, bottom, left, right = erasing_box(image_generator(0, 0, 0, number), 40, 30)
        assert 0 <= top < bottom <= 40 and 0 <= left < right <= 30
        rows, cols = bottom - top, right - left
        assert 0.02 * 1200 * 0.8 <= rows * cols <= 0.33 * 1200 * 1.2  # the sides are rounded
        assert 0.3 * 0.7 <= rows / cols <= 3.3 / 0.7


def test_random_erasing_sets_one_box_to_the_mean_with_its_probability():
    ours, images = policy(erasing=0.25), pixels(400, height=16, width=16)
    erased = 0
    for number, image in enumerate(images):
        out, clean = ours.image(image, image_generator(3, 0, 0, number)), normalised(image)
        changed = out != clean
        if changed.any():
            erased += 1
            rows, cols = np.nonzero(changed.any(axis=0))
            box = np.zeros((16, 16), bool)
            box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
            assert (out[:, box] == 0).all()  # one box, at the mean (0 once normalised)
            np.testing.assert_array_equal(out[:, ~box], clean[:, ~box])
    assert erased == pytest.approx(100, abs=30)


def test_the_worker_processes_augment_as_in_process_and_a_resumed_epoch_the_same(mx_batches):
    ours = policy("trivialaugment", erasing=0.5)
    batches = mx_batches(4)
    whole = list(augment_workers.augmented(iter(batches), ours, 7, 2))
    for number, ((data, label, valid), (original, original_label, _)) in enumerate(zip(whole, batches)):
        expected = augment_images(ours, original.asnumpy().astype(np.uint8), 7, 2, number, 0)
        np.testing.assert_array_equal(data.asnumpy(), expected)
        np.testing.assert_array_equal(label.asnumpy(), original_label.asnumpy())
        assert valid == 5
    resumed = list(augment_workers.augmented(iter(batches), ours, 7, 2, skip=2))
    for number in (2, 3):
        np.testing.assert_array_equal(resumed[number][0].asnumpy(), whole[number][0].asnumpy())


def test_with_nothing_on_the_readers_batches_pass_untouched(mx_batches):
    batches = iter(mx_batches(2))
    assert augment_workers.augmented(batches, policy(), 0, 0) is batches


@pytest.fixture
def mx_batches():
    import mxnet as mx

    def make(count):
        return [
            (mx.nd.array(pixels(5, seed=number).astype(np.float32)), mx.nd.arange(5) + number, 5)
            for number in range(count)
        ]

    return make


def epoch_data(tmp_path, **values):
    demo_data.write_recordio(tmp_path / "train" / "train", demo_data.samples(40, 16, 0))
    train_set = recordio.scan(Channel("train", Path(tmp_path / "train")), tmp_path, DataSpec(4))
    hp = parse(image_shape="3,16,16", seed="3", mini_batch_size="8", **values)
    sets = SimpleNamespace(train=train_set, validation=train_set)
    return EpochData.build(hp, sets, Preprocessing.for_training((3, 16, 16), None), 1, 0)


def test_an_epoch_with_randaugment_reads_pixels_and_augments_them_the_same_every_time(tmp_path):
    data = epoch_data(tmp_path, augmentation_type="randaugment", random_erasing="0.5")
    assert data.augmentation == policy("randaugment", 2, 9, 0.5)
    assert data.train_iter_args["normalized"] is False
    first = [batch[0].asnumpy() for batch in data.train_batches(1)]
    again = [batch[0].asnumpy() for batch in data.train_batches(1)]
    assert len(first) == 5 and all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], next(iter(data.train_batches(2)))[0].asnumpy())
    assert -3 < min(batch.min() for batch in first) and max(batch.max() for batch in first) < 3  # normalised


def test_the_readers_pixels_without_normalisation_are_its_normalised_ones_undone(tmp_path):
    demo_data.write_recordio(tmp_path / "val" / "val", demo_data.samples(8, 16, 0))
    record_set = recordio.scan(Channel("val", Path(tmp_path / "val")), tmp_path, DataSpec(4))
    preprocessing = Preprocessing.for_training((3, 16, 16), None)
    raw = iterators.record_iter(record_set, preprocessing, 8, train=False, normalized=False).next().data[0]
    done = iterators.record_iter(record_set, preprocessing, 8, train=False).next().data[0]
    assert raw.asnumpy().max() > 100 and np.array_equal(raw.asnumpy(), np.rint(raw.asnumpy()))
    np.testing.assert_allclose(normalised(raw.asnumpy()), done.asnumpy(), atol=1e-4)


def test_without_the_options_an_epoch_is_read_normalised_and_untouched(tmp_path):
    data = epoch_data(tmp_path, augmentation_type="crop")
    assert not data.augmentation.enabled and data.train_iter_args["normalized"] is True


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"augmentation_type": "autoaugment"}, "'crop_color_transform', 'randaugment', 'trivialaugment'"),
        ({"augmentation_type": "randaugment", "randaugment_n": "0"}, "'randaugment_n' hyperparameter which accepts"),
        ({"augmentation_type": "randaugment", "randaugment_m": "11"}, "'randaugment_m' .* from 0 to 10"),
        ({"randaugment_m": "5"}, "randaugment_m sets .* augmentation_type is unset; set augmentation_type=randa"),
        (
            {"augmentation_type": "trivialaugment", "randaugment_n": "1", "randaugment_m": "3"},
            "randaugment_n and randaugment_m set .* augmentation_type is trivialaugment",
        ),
        ({"random_erasing": "1.5"}, "'random_erasing' hyperparameter which accepts a float in the range \\[0, 1\\]"),
    ],
)
def test_augmentation_values_are_refused_by_name(values, fragment):
    with pytest.raises(UserError, match=fragment):
        parse(**values)

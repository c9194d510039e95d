"""The real `train` with quantize=int8 writes the int8 model beside the float32 one, calibrated on validation images."""

import re

from training_process import TINY, run_train

from image_classifier import demo_data
from image_classifier.model import artifacts


def test_quantize_int8_writes_the_int8_model_beside_the_float32_files(tmp_path):
    base_dir = demo_data.write_job(
        tmp_path / "ml", 64, 40, 16, **{**TINY, "quantize": "int8", "quantize_calibration_images": 32}
    )
    result = run_train(base_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    model_dir = base_dir / "model"
    assert (model_dir / artifacts.INT8_SYMBOL_FILE).is_file() and (model_dir / artifacts.INT8_PARAMS_FILE).is_file()
    assert not artifacts.missing_files(model_dir) and len(artifacts.saved_epochs(model_dir)) == 1
    assert re.search(
        r"Wrote the int8 model \(image-classification-int8\.params\), calibrated on 32 images", result.stdout
    )

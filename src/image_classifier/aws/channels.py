"""A data folder's channels (one sub-folder each) as the InputDataConfig of a training job.

train/, validation/                 .rec files (application/x-recordio), or images (application/x-image)
train_lst/, validation_lst/         im2rec .lst files for the images (application/x-image)
train_annotation/, validation_annotation/   one JSON annotation per image (application/x-image)
model/                              a previous model.tar.gz for incremental training
pretrained/                         starting weights for a new model: a GluonCV .params file or a model.tar.gz
teacher/                            a model.tar.gz of this project to distil from (knowledge distillation)
"""

from ..errors import UserError
from . import s3

RECORDIO = "application/x-recordio"
IMAGE = "application/x-image"
MODEL = "application/x-sagemaker-model"
MODEL_CHANNELS = ("model", "pretrained", "teacher")
CHANNELS = (
    "train",
    "validation",
    "train_lst",
    "validation_lst",
    "train_annotation",
    "validation_annotation",
    *MODEL_CHANNELS,
)
REQUIRED = ("train", "validation")


def content_type(channel: str, file_names: list[str]) -> str:
    if channel in MODEL_CHANNELS:
        return MODEL
    if channel in REQUIRED and any(name.endswith(".rec") for name in file_names):
        return RECORDIO
    return IMAGE


def by_channel(files: list[str], where: str) -> dict[str, list[str]]:
    """{channel: [file names]} from paths relative to the data folder ``where``; checks the layout."""
    grouped = {}
    for path in files:
        channel, separator, name = path.partition("/")
        if not separator:
            raise UserError(
                f"{where} has a file '{path}' outside the channel folders: put every file in one of "
                f"{', '.join(CHANNELS)}"
            )
        if channel not in CHANNELS:
            raise UserError(f"{where} has a folder '{channel}' that is not a channel: use {', '.join(CHANNELS)}")
        grouped.setdefault(channel, []).append(name)
    missing = [channel for channel in REQUIRED if channel not in grouped]
    if missing:
        raise UserError(f"{where} has no {' or '.join(missing)} folder: training needs both train and validation")
    return grouped


def input_data_config(uri: str, grouped: dict[str, list[str]]) -> list[dict]:
    """One S3Prefix channel per folder; the trailing '/' keeps 'train' from also matching 'train_lst'."""
    return [
        {
            "ChannelName": channel,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": s3.join(uri, channel) + "/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": content_type(channel, names),
        }
        for channel, names in sorted(grouped.items())
    ]


def describe(grouped: dict[str, list[str]]) -> list[str]:
    return [
        f"  {channel}: {len(names)} files, {content_type(channel, names)}" for channel, names in sorted(grouped.items())
    ]

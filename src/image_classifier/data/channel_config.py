"""What inputdataconfig.json says of a channel beyond ``Environment.Channel``: record wrapping and attributes.

    "train": {"ContentType": "application/x-recordio; label-format=class-id", "TrainingInputMode": "Pipe",
              "RecordWrapperType": "RecordIO", "AttributeNames": ["source-ref", "class"]}

``label-format`` is a parameter of the content type (``class-id`` for lists of class ids in multi-label
manifests; multi-hot otherwise).
"""

from dataclasses import dataclass

from ..environment import Environment
from ..errors import UserError


@dataclass(frozen=True)
class ChannelConfig:
    record_wrapper: str = "None"
    attribute_names: tuple[str, ...] = ()
    label_format: str = ""


def _parameters(content_type):
    """{"label-format": "class-id"} from "application/x-recordio; label-format=class-id"."""
    pairs = (part.split("=", 1) for part in content_type.split(";")[1:] if "=" in part)
    return {name.strip().lower(): value.strip().lower() for name, value in pairs}


def read(env: Environment, name: str) -> ChannelConfig:
    channel = env.channels.get(name)
    config = channel.config if channel else {}
    attribute_names = config.get("AttributeNames") or []
    if not isinstance(attribute_names, list) or not all(isinstance(item, str) for item in attribute_names):
        raise UserError(
            f"AttributeNames of the '{name}' channel must be a list of attribute names, not {attribute_names!r}"
        )
    content_type = config.get("ContentType", "")
    return ChannelConfig(
        record_wrapper=config.get("RecordWrapperType", "None"),
        attribute_names=tuple(attribute_names),
        label_format=_parameters(content_type).get("label-format", ""),
    )

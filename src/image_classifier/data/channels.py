"""A channel, whatever its layout, as a RecordSet that ``ImageRecordIter`` reads."""
from . import recordio


def prepare(env, name, scratch_dir, hp):
    """The channel ``name`` of ``env`` checked against ``hp``; scratch files go to ``scratch_dir``."""
    channel = env.channel(name)
    min_size = None if hp.resize else hp.image_shape[1:]
    return recordio.scan(channel, scratch_dir, hp.num_classes, bool(hp.multi_label), min_size)

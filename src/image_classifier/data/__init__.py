"""Training inputs: each channel, whatever its transport and layout, becomes a RecordSet for ``ImageRecordIter``."""

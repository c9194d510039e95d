"""Training inputs: each reader turns a channel into RecordIO that ``ImageRecordIter`` trains from."""

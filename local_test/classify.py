"""Classifies the first validation images of a test_dir with a running endpoint, by class name.

    python3 local_test/classify.py TEST_DIR [--count 8] [--port 8080]

Reads TEST_DIR/input/data/validation/*.rec with the standard library only (RecordIO framing and
MXNet's IRHeader), posts each image to /invocations, and names the classes of the answer (a JSON
array of probabilities) with TEST_DIR/model/classes.json.
"""

import argparse
import json
import struct
import urllib.request
from pathlib import Path

RECORD_MAGIC = 0xCED7230A
IR_HEADER = struct.Struct("<IfQQ")  # flag, label, id, id2


def records(rec_file):
    """Yield (label, image bytes) of each single-label record of an MXNet .rec file."""
    data = rec_file.read_bytes()
    position = 0
    while position + 8 <= len(data):
        magic, length_and_flag = struct.unpack_from("<II", data, position)
        if magic != RECORD_MAGIC:
            raise ValueError(f"{rec_file}: no RecordIO record at byte {position}")
        length = length_and_flag & ((1 << 29) - 1)
        payload = data[position + 8 : position + 8 + length]
        position += 8 + (length + 3) // 4 * 4
        flag, label, _, _ = IR_HEADER.unpack_from(payload)
        if flag == 0:
            yield int(label), payload[IR_HEADER.size :]


def content_type(image):
    return "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test_dir", type=Path)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    class_names = json.loads((args.test_dir / "model" / "classes.json").read_text())
    rec_file = sorted((args.test_dir / "input" / "data" / "validation").glob("*.rec"))[0]
    for number, (label, image) in zip(range(args.count), records(rec_file)):
        request = urllib.request.Request(
            f"http://localhost:{args.port}/invocations", data=image, headers={"Content-Type": content_type(image)}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            probabilities = json.load(response)
        ranked = sorted(enumerate(probabilities), key=lambda pair: pair[1], reverse=True)[:3]
        predicted = ", ".join(f"{class_names[str(index)]} {probability:.3f}" for index, probability in ranked)
        print(f"{rec_file.name} #{number}: true {class_names[str(label)]:<10} predicted {predicted}")


if __name__ == "__main__":
    main()

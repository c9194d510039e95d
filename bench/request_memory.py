"""What one hostile request costs a serving worker in memory: its RSS before, at peak and after (run by hand).

    python bench/request_memory.py MODEL_DIR

Starts `serve` on 127.0.0.1 with MODEL_DIR's parent as SAGEMAKER_BASE_DIR, then for each request samples the
worker's RSS every 5 ms until the answer comes:
- a 128-byte .npy header declaring shape (10000000, 0, 0, 3) (issue 11.3);
- a 97 KB 16-bit grayscale 7071x7071 PNG (issue 11.5), with the default IMAGE_CLASSIFIER_MAX_DECODED_MB
  and with the limit at 64 MB.
"""

import io
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from serving_process import ServeProcess  # noqa: E402

SAMPLE_INTERVAL = 0.005


def npy_header_only():
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|u1", "fortran_order": False, "shape": (10_000_000, 0, 0, 3)}
    )
    return buffer.getvalue()


def sixteen_bit_png(side=7071):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\0" * (2 * side) for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def measure(server, body, content_type):
    (worker,) = [psutil.Process(pid) for pid in server.worker_pids()]
    before = worker.memory_info().rss
    peak, done = [before], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], worker.memory_info().rss)
            time.sleep(SAMPLE_INTERVAL)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    response = server.post(body, content_type)
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    return response, before, peak[0], worker.memory_info().rss, elapsed


def main(model_dir):
    requests_ = [
        (".npy (10000000, 0, 0, 3), 128 B", npy_header_only(), "application/x-npy", {}),
        ("16-bit 7071x7071 PNG", sixteen_bit_png(), "image/png", {}),
        ("same, MAX_DECODED_MB=64", sixteen_bit_png(), "image/png", {"IMAGE_CLASSIFIER_MAX_DECODED_MB": 64}),
    ]
    print(f"{'request':36} {'bytes':>8} {'status':>6} {'RSS before':>11} {'peak':>9} {'after':>9} {'time':>7}")
    for name, body, content_type, env in requests_:
        with ServeProcess(Path(model_dir).parent, SAGEMAKER_MODEL_SERVER_WORKERS=1, **env) as server:
            server.wait_until_ready()
            response, before, peak, after, elapsed = measure(server, body, content_type)
        mb = 1024 * 1024
        answer = response.json()
        error = answer["error"][:60] if isinstance(answer, dict) else ""
        print(
            f"{name:36} {len(body):>8} {response.status_code:>6} {before / mb:>8.0f} MB {peak / mb:>6.0f} MB "
            f"{after / mb:>6.0f} MB {elapsed:>6.2f}s  {error}"
        )


if __name__ == "__main__":
    main(sys.argv[1])

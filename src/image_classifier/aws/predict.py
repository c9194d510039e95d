"""``aws predict``: one image to an endpoint, the top classes printed with their names.

Asks for ``top_k=K`` in X-Amzn-SageMaker-Custom-Attributes, which this image's endpoints answer with
class names; an endpoint that answers with the bare list of probabilities (the built-in algorithm's)
is ranked here, its classes named by index.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from .clients import Clients

SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def content_type(body: bytes) -> str:
    return next((kind for signature, kind in SIGNATURES.items() if body.startswith(signature)), "application/x-image")


def top_classes(answer: dict | list[float], top_k: int) -> list[tuple[str, float]]:
    """(name, probability) pairs, best first, from either answer shape."""
    if isinstance(answer, dict):
        return [(item["label"], item["probability"]) for item in answer["top_k"]]
    best = np.argsort(-np.asarray(answer), kind="stable")[:top_k]
    return [(str(index), answer[index]) for index in best]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("endpoint_name")
    parser.add_argument("image", type=Path, help="a JPEG or PNG file")
    parser.add_argument("--top-k", type=int, default=3)


def run(args: argparse.Namespace, clients: Clients) -> int:
    if not args.image.is_file():
        raise UserError(f"{args.image} is not a file: give the path of a JPEG or PNG image")
    body = args.image.read_bytes()
    response = clients.runtime.invoke_endpoint(
        EndpointName=args.endpoint_name,
        Body=body,
        ContentType=content_type(body),
        Accept="application/json",
        CustomAttributes=f"top_k={args.top_k}",
    )
    for rank, (name, probability) in enumerate(top_classes(json.loads(response["Body"].read()), args.top_k), 1):
        print(f"{rank}. {name}\t{probability:.4f}")
    return 0

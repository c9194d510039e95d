"""``aws upload``: a local data folder (one folder per channel) to S3, checked first, to train from later."""

import argparse

from . import channels, s3
from .clients import Clients


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="the data folder: train/, validation/ and the other channel folders")
    parser.add_argument("destination", help="s3://bucket/prefix")


def run(args: argparse.Namespace, clients: Clients) -> int:
    s3.split_uri(args.destination)
    files = s3.local_files(args.folder)
    grouped = channels.by_channel(files, args.folder)
    s3.upload_folder(clients.s3, args.folder, args.destination, files)
    print("\n".join(channels.describe(grouped)))
    print(f"train from it with: image-classifier aws train --data {args.destination} ...")
    return 0

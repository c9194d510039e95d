"""S3 locations as ``s3://bucket/prefix`` URIs: uploading a folder, listing what is under a prefix."""

from pathlib import Path

from botocore.client import BaseClient

from ..errors import UserError


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix without a trailing slash) of an s3:// URI."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise UserError(f"'{uri}' is not an S3 location: write it as s3://bucket/prefix")
    return bucket, prefix.strip("/")


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def local_files(folder: Path) -> list[str]:
    """Every file under ``folder``, as paths relative to it with '/' separators, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: give the data folder that holds one folder per channel")
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def upload_folder(s3: BaseClient, folder: Path, uri: str, files: list[str]) -> None:
    """Upload ``files`` (relative to ``folder``) under ``uri``, keeping their relative paths."""
    bucket, prefix = split_uri(uri)
    for name in files:
        s3.upload_file(str(Path(folder) / name), bucket, "/".join(filter(None, [prefix, name])))
    print(f"uploaded {len(files)} files from {folder} to {uri}")


def list_files(s3: BaseClient, uri: str) -> list[str]:
    """The keys under ``uri``, relative to it."""
    bucket, prefix = split_uri(uri)
    start = f"{prefix}/" if prefix else ""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=start)
    return [
        item["Key"][len(start) :]
        for page in pages
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]

"""moto's S3 stand-in on 127.0.0.1, with boto3 (ours and the toolkit's) pointed at it through the environment."""

import contextlib

from moto.server import ThreadedMotoServer

from image_classifier import s3_objects


@contextlib.contextmanager
def server():
    """The stand-in's environment: AWS_ENDPOINT_URL, test keys and a region."""
    stand_in = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    stand_in.start()
    try:
        yield {
            "AWS_ENDPOINT_URL": "http://{}:{}".format(*stand_in.get_host_and_port()),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    finally:
        stand_in.stop()


@contextlib.contextmanager
def bucket(environ, name, monkeypatch):
    """An empty bucket on the stand-in at ``environ``, s3_objects' client pointed at it; removed at the end,
    since moto's state outlives its server in this process."""
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(s3_objects, "_client", None)
    client = s3_objects._s3()
    client.create_bucket(Bucket=name)
    try:
        yield client
    finally:
        for listed in client.list_objects_v2(Bucket=name).get("Contents", []):
            client.delete_object(Bucket=name, Key=listed["Key"])
        client.delete_bucket(Bucket=name)

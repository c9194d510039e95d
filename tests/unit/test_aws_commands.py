"""`image-classifier aws ...` against botocore's Stubber: every request is checked against the real service
models (and the expected parameters given here); no credentials, no network (a dead proxy catches any escape).
The multi-model deploy is also run against moto's SageMaker, which keeps what it is sent."""

import datetime
import io
import json
import logging
import re

import boto3
import botocore.waiter
import moto
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from image_classifier import cli
from image_classifier.aws import channels, clients, train

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/image-classifier:cpu"
MODEL_DATA = "s3://bucket/output/job-1/output/model.tar.gz"
TRAIN_ACCURACY = r"Epoch\[\d+\] Train-accuracy=([0-9.]+)"
VALIDATION_ACCURACY = r"Epoch\[\d+\] Validation-accuracy=([0-9.]+)"
CONFIG_ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/classifier"
TRANSFORM_ARN = "arn:aws:sagemaker:us-east-1:123456789012:transform-job/batch-1"
IMAGES = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/images"}}


class Stubs:
    """One activated Stubber per client the command asks for; all must be used up by the end."""

    def __init__(self, connected):
        self.connected = connected
        self.stubbers = {}

    def __getattr__(self, name):
        if name not in self.stubbers:
            self.stubbers[name] = Stubber(getattr(self.connected, name))
            self.stubbers[name].activate()
        return self.stubbers[name]

    def assert_used_up(self):
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def stubs(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="botocore")  # making clients logs "Found credentials" at INFO
    for name in ("AWS_PROFILE", "SAGEMAKER_ROLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)
    connected = clients.Clients(boto3.Session())
    monkeypatch.setattr(clients, "connect", lambda region=None, profile=None: connected)
    created = Stubs(connected)
    yield created
    created.assert_used_up()


def aws(*argv):
    return cli.main(["aws", *argv])


def _job(status, secondary=None, **extra):
    return {
        "TrainingJobName": "job-1",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        "ModelArtifacts": {"S3ModelArtifacts": MODEL_DATA},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary or status,
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": NOW,
        "RoleArn": ROLE_ARN,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        **extra,
    }


def _data_folder(tmp_path):
    for path in ("train/train.rec", "train/train.idx", "validation/validation.rec", "model/model.tar.gz"):
        (tmp_path / "data" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / path).write_bytes(b"records")
    return tmp_path / "data"


def _expect_uploads(stubs, bucket, keys):
    for key in keys:
        stubs.s3.add_response("put_object", {}, {"Bucket": bucket, "Key": key, "Body": ANY, "ChecksumAlgorithm": ANY})


def _channel(name, uri, content_type):
    return {
        "ChannelName": name,
        "ContentType": content_type,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
    }


# upload


def test_upload_puts_every_file_under_the_prefix_and_names_the_channels(stubs, tmp_path, capsys):
    folder = _data_folder(tmp_path)
    _expect_uploads(
        stubs,
        "bucket",
        [
            "data/set-1/model/model.tar.gz",
            "data/set-1/train/train.idx",
            "data/set-1/train/train.rec",
            "data/set-1/validation/validation.rec",
        ],
    )
    assert aws("upload", str(folder), "s3://bucket/data/set-1") == 0
    out = capsys.readouterr().out
    assert "train: 2 files, application/x-recordio" in out
    assert "model: 1 files, application/x-sagemaker-model" in out


@pytest.mark.parametrize("channel, name", [("teacher", "model.tar.gz"), ("pretrained", "resnet18_v1-a0666292.params")])
def test_the_teacher_and_pretrained_channels_are_model_channels(channel, name):
    grouped = channels.by_channel(["train/a.rec", "validation/b.rec", f"{channel}/{name}"], "data")
    assert f"  {channel}: 1 files, application/x-sagemaker-model" in channels.describe(grouped)


def test_upload_refuses_a_folder_that_is_not_channels_before_sending_anything(stubs, tmp_path, capsys):
    folder = _data_folder(tmp_path)
    (folder / "test").mkdir()
    (folder / "test" / "x.jpg").write_bytes(b"image")
    assert aws("upload", str(folder), "s3://bucket/data") == 1
    assert "has a folder 'test' that is not a channel" in capsys.readouterr().err


def test_upload_refuses_a_destination_that_is_not_s3(stubs, tmp_path, capsys):
    assert aws("upload", str(_data_folder(tmp_path)), "bucket/data") == 1
    assert "'bucket/data' is not an S3 location: write it as s3://bucket/prefix" in capsys.readouterr().err


# train


def _train_args(*extra, data="s3://bucket/data"):
    return [
        "train",
        "--image-uri",
        IMAGE,
        "--data",
        data,
        "--output",
        "s3://bucket/output",
        "--job-name",
        "job-1",
        "--set",
        "num_classes=4",
        "--set",
        "num_training_samples=800",
        *extra,
    ]


def _expected_job(channels, **changes):
    job = {
        "TrainingJobName": "job-1",
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "EnableSageMakerMetricsTimeSeries": True,
            "MetricDefinitions": [
                {"Name": "train:accuracy", "Regex": TRAIN_ACCURACY},
                {"Name": "validation:accuracy", "Regex": VALIDATION_ACCURACY},
            ],
        },
        "RoleArn": ROLE_ARN,
        "HyperParameters": {"num_classes": "4", "num_training_samples": "800"},
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "EnableManagedSpotTraining": False,
        "TensorBoardOutputConfig": {
            "LocalPath": "/opt/ml/output/tensorboard",
            "S3OutputPath": "s3://bucket/output/job-1/tensorboard",
        },
    }
    job.update(changes)
    return job


def _list_response(*keys):
    return {"Contents": [{"Key": key, "Size": 7} for key in keys], "KeyCount": len(keys), "IsTruncated": False}


def test_train_from_s3_lists_the_channels_and_starts_the_job(stubs, capsys):
    stubs.s3.add_response(
        "list_objects_v2",
        _list_response(
            "data/train/",
            "data/train/a.jpg",
            "data/train_lst/train.lst",
            "data/validation/b.jpg",
            "data/validation_lst/validation.lst",
        ),
        {"Bucket": "bucket", "Prefix": "data/"},
    )
    channels = [
        _channel("train", "s3://bucket/data/train/", "application/x-image"),
        _channel("train_lst", "s3://bucket/data/train_lst/", "application/x-image"),
        _channel("validation", "s3://bucket/data/validation/", "application/x-image"),
        _channel("validation_lst", "s3://bucket/data/validation_lst/", "application/x-image"),
    ]
    stubs.sagemaker.add_response(
        "create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/job-1"}, _expected_job(channels)
    )
    assert aws(*_train_args("--role", ROLE_ARN)) == 0
    assert "started training job job-1" in capsys.readouterr().out


def test_train_uploads_a_local_folder_resolves_the_role_by_name_and_uses_spot_with_checkpoints(stubs, tmp_path):
    folder = _data_folder(tmp_path)
    role = {
        "Path": "/",
        "RoleName": "SageMakerRole",
        "RoleId": "AROAEXAMPLEID12345678",
        "Arn": ROLE_ARN,
        "CreateDate": NOW,
    }
    stubs.iam.add_response("get_role", {"Role": role}, {"RoleName": "SageMakerRole"})
    prefix = "output/job-1/data"
    _expect_uploads(
        stubs,
        "bucket",
        [
            f"{prefix}/model/model.tar.gz",
            f"{prefix}/train/train.idx",
            f"{prefix}/train/train.rec",
            f"{prefix}/validation/validation.rec",
        ],
    )
    uri = "s3://bucket/output/job-1/data"
    channels = [
        _channel("model", f"{uri}/model/", "application/x-sagemaker-model"),
        _channel("train", f"{uri}/train/", "application/x-recordio"),
        _channel("validation", f"{uri}/validation/", "application/x-recordio"),
    ]
    metrics = _expected_job([])["AlgorithmSpecification"]["MetricDefinitions"] + [
        {"Name": "train:top_k_accuracy_3", "Regex": r"Epoch\[\d+\] Train-top_k_accuracy_3=([0-9.]+)"},
        {"Name": "validation:top_k_accuracy_3", "Regex": r"Epoch\[\d+\] Validation-top_k_accuracy_3=([0-9.]+)"},
    ]
    hyperparameters = tmp_path / "hyperparameters.json"
    hyperparameters.write_text(json.dumps({"num_layers": 18, "top_k": "3", "epochs": "2"}))
    expected = _expected_job(
        channels,
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        CheckpointConfig={"S3Uri": "s3://bucket/output/job-1/checkpoints", "LocalPath": "/opt/ml/checkpoints"},
        HyperParameters={
            "num_layers": "18",
            "top_k": "3",
            "epochs": "5",
            "num_classes": "4",
            "num_training_samples": "800",
        },
        AlgorithmSpecification={**_expected_job([])["AlgorithmSpecification"], "MetricDefinitions": metrics},
    )
    stubs.sagemaker.add_response(
        "create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/job-1"}, expected
    )
    assert (
        aws(
            *_train_args(
                "--role",
                "SageMakerRole",
                "--spot",
                "--max-run",
                "3600",
                "--hyperparameters",
                str(hyperparameters),
                "--set",
                "epochs=5",
                data=str(folder),
            )
        )
        == 0
    )


def test_train_without_a_role_says_how_to_give_one_and_sends_nothing(stubs, capsys):
    assert aws(*_train_args()) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: No IAM role for SageMaker to assume: pass --role") and "SAGEMAKER_ROLE" in error


def test_train_with_a_role_name_that_does_not_exist(stubs, capsys):
    stubs.iam.add_client_error(
        "get_role",
        service_error_code="NoSuchEntity",
        http_status_code=404,
        service_message="The role with name Missing cannot be found.",
        expected_params={"RoleName": "Missing"},
    )
    assert aws(*_train_args("--role", "Missing")) == 1
    assert "The IAM role 'Missing' does not exist in this account" in capsys.readouterr().err


def test_train_checks_hyperparameters_before_any_request(stubs, capsys):
    assert aws(*_train_args("--role", ROLE_ARN, "--set", "optimizer=adadelta")) == 1
    assert (
        "The value 'adadelta' is not valid for the 'optimizer' hyperparameter which accepts one of the "
        "following: 'sgd', 'nag', 'adam', 'rmsprop'"
    ) in capsys.readouterr().err


def test_train_explains_an_unreadable_hyperparameters_file(stubs, tmp_path, capsys):
    broken = tmp_path / "hyperparameters.json"
    broken.write_text("{num_classes: 4}")
    assert aws(*_train_args("--role", ROLE_ARN, "--hyperparameters", str(broken))) == 1
    assert f"--hyperparameters {broken} cannot be read as JSON" in capsys.readouterr().err


def test_train_refuses_data_without_a_validation_channel(stubs, capsys):
    stubs.s3.add_response(
        "list_objects_v2", _list_response("data/train/a.rec"), {"Bucket": "bucket", "Prefix": "data/"}
    )
    assert aws(*_train_args("--role", ROLE_ARN)) == 1
    assert "s3://bucket/data has no validation folder" in capsys.readouterr().err


def test_train_shows_the_service_error_with_a_hint(stubs, capsys):
    stubs.s3.add_response(
        "list_objects_v2",
        _list_response("data/train/a.rec", "data/validation/b.rec"),
        {"Bucket": "bucket", "Prefix": "data/"},
    )
    stubs.sagemaker.add_client_error(
        "create_training_job",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level service limit is 0 Instances",
    )
    assert aws(*_train_args("--role", ROLE_ARN)) == 1
    error = capsys.readouterr().err
    assert "(ResourceLimitExceeded) when calling the CreateTrainingJob operation" in error
    assert "ask for a higher SageMaker quota" in error


def test_metric_definitions_match_the_log_lines():
    definitions = {item["Name"]: item["Regex"] for item in train.metric_definitions(5)}
    assert definitions["train:accuracy"] == TRAIN_ACCURACY
    assert definitions["validation:accuracy"] == VALIDATION_ACCURACY
    assert re.search(definitions["validation:accuracy"], "Epoch[3] Validation-accuracy=0.880000").group(1) == "0.880000"
    assert re.search(definitions["train:top_k_accuracy_5"], "Epoch[3] Train-top_k_accuracy_5=0.99").group(1) == "0.99"


# status


def _log_events(stubs, stream, messages, token_in=None, token_out="f1"):
    params = {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": stream, "startFromHead": True}
    if token_in:
        params["nextToken"] = token_in
    stubs.logs.add_response(
        "get_log_events",
        {
            "events": [{"timestamp": 1, "message": m, "ingestionTime": 1} for m in messages],
            "nextForwardToken": token_out,
            "nextBackwardToken": "b",
        },
        params,
    )


def _log_streams(stubs, *names):
    stubs.logs.add_response(
        "describe_log_streams",
        {"logStreams": [{"logStreamName": name} for name in names]},
        {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamNamePrefix": "job-1/"},
    )


def test_status_of_a_completed_job_prints_metrics_and_the_model(stubs, capsys):
    stubs.sagemaker.add_response(
        "describe_training_job",
        _job(
            "Completed",
            FinalMetricDataList=[{"MetricName": "validation:accuracy", "Value": 0.91, "Timestamp": NOW}],
            BillableTimeInSeconds=300,
        ),
        {"TrainingJobName": "job-1"},
    )
    assert aws("status", "job-1") == 0
    out = capsys.readouterr().out
    assert "job-1: Completed" in out and "validation:accuracy = 0.910000" in out and MODEL_DATA in out


def test_status_of_a_failed_job_exits_1_with_the_reason(stubs, capsys):
    stubs.sagemaker.add_response(
        "describe_training_job",
        _job("Failed", FailureReason="AlgorithmError: The 'validation' channel is missing"),
        {"TrainingJobName": "job-1"},
    )
    assert aws("status", "job-1") == 1
    assert capsys.readouterr().err.strip() == (
        "error: Training job job-1 failed: AlgorithmError: The 'validation' channel is missing"
    )


def test_follow_prints_status_changes_and_each_log_line_once(stubs, capsys):
    stubs.sagemaker.add_response("describe_training_job", _job("InProgress", "Starting"), {"TrainingJobName": "job-1"})
    stubs.logs.add_client_error(
        "describe_log_streams",
        service_error_code="ResourceNotFoundException",
        service_message="The specified log group does not exist.",
    )
    stubs.sagemaker.add_response("describe_training_job", _job("InProgress", "Training"), {"TrainingJobName": "job-1"})
    _log_streams(stubs, "job-1/algo-1-1700000000")
    _log_events(
        stubs,
        "job-1/algo-1-1700000000",
        ["Epoch[0] Train-accuracy=0.500000", "Epoch[0] Validation-accuracy=0.400000"],
        token_out="f1",
    )
    _log_events(stubs, "job-1/algo-1-1700000000", [], token_in="f1", token_out="f1")
    stubs.sagemaker.add_response("describe_training_job", _job("Completed"), {"TrainingJobName": "job-1"})
    _log_streams(stubs, "job-1/algo-1-1700000000")
    _log_events(stubs, "job-1/algo-1-1700000000", ["Best epoch 0"], token_in="f1", token_out="f2")
    _log_events(stubs, "job-1/algo-1-1700000000", [], token_in="f2", token_out="f2")
    assert aws("status", "job-1", "--follow", "--poll-seconds", "0") == 0
    assert capsys.readouterr().out.splitlines()[:6] == [
        "job-1: InProgress (Starting)",
        "job-1: InProgress (Training)",
        "Epoch[0] Train-accuracy=0.500000",
        "Epoch[0] Validation-accuracy=0.400000",
        "job-1: Completed",
        "Best epoch 0",
    ]


def test_train_follow_ends_with_the_failure_reason(stubs, capsys):
    stubs.s3.add_response(
        "list_objects_v2",
        _list_response("data/train/a.rec", "data/validation/b.rec"),
        {"Bucket": "bucket", "Prefix": "data/"},
    )
    stubs.sagemaker.add_response("create_training_job", {"TrainingJobArn": "arn:aws:sagemaker:::training-job/job-1"})
    stubs.sagemaker.add_response(
        "describe_training_job", _job("Failed", FailureReason="ClientError: bad data"), {"TrainingJobName": "job-1"}
    )
    _log_streams(stubs)
    assert aws(*_train_args("--role", ROLE_ARN, "--follow", "--poll-seconds", "0")) == 1
    assert "Training job job-1 failed: ClientError: bad data" in capsys.readouterr().err


def test_follow_reads_every_page_of_log_streams(stubs, capsys):
    """A job restarted on several hosts has more streams than one DescribeLogStreams page holds."""
    stubs.sagemaker.add_response("describe_training_job", _job("Completed"), {"TrainingJobName": "job-1"})
    prefix = {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamNamePrefix": "job-1/"}
    stubs.logs.add_response(
        "describe_log_streams", {"logStreams": [{"logStreamName": "job-1/algo-1-1"}], "nextToken": "p2"}, prefix
    )
    stubs.logs.add_response(
        "describe_log_streams", {"logStreams": [{"logStreamName": "job-1/algo-2-1"}]}, {**prefix, "nextToken": "p2"}
    )
    for stream, message in (("job-1/algo-1-1", "one"), ("job-1/algo-2-1", "two")):
        _log_events(stubs, stream, [message], token_out="f1")
        _log_events(stubs, stream, [], token_in="f1", token_out="f1")
    assert aws("status", "job-1", "--follow", "--poll-seconds", "0") == 0
    assert capsys.readouterr().out.splitlines()[1:3] == ["[algo-1-1] one", "[algo-2-1] two"]


# deploy


def _model_missing(stubs):
    stubs.sagemaker.add_client_error(
        "describe_model",
        service_error_code="ValidationException",
        service_message='Could not find model "job-1".',
        expected_params={"ModelName": "job-1"},
    )


def _endpoint(status, **extra):
    return {
        "EndpointName": "classifier",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/classifier",
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        **extra,
    }


def _expect_endpoint(stubs, model_name):
    stubs.sagemaker.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": CONFIG_ARN},
        {
            "EndpointConfigName": "classifier",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model_name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        },
    )
    stubs.sagemaker.add_response(
        "create_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:::endpoint/classifier"},
        {"EndpointName": "classifier", "EndpointConfigName": "classifier"},
    )


def test_deploy_creates_model_config_and_endpoint_and_waits(stubs, capsys):
    stubs.sagemaker.add_response("describe_training_job", _job("Completed"), {"TrainingJobName": "job-1"})
    _model_missing(stubs)
    stubs.sagemaker.add_response(
        "create_model",
        {"ModelArn": "arn:aws:sagemaker:::model/job-1"},
        {
            "ModelName": "job-1",
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": MODEL_DATA},
            "ExecutionRoleArn": ROLE_ARN,
        },
    )
    _expect_endpoint(stubs, "job-1")
    for status in ("Creating", "Creating", "InService"):
        stubs.sagemaker.add_response("describe_endpoint", _endpoint(status), {"EndpointName": "classifier"})
    assert aws("deploy", "job-1", "--endpoint-name", "classifier", "--wait", "--poll-seconds", "0") == 0
    out = capsys.readouterr().out
    assert "created model job-1" in out
    assert "endpoint classifier: Creating\nendpoint classifier: InService" in out


def test_deploy_of_a_failed_job_says_there_is_no_model(stubs, capsys):
    stubs.sagemaker.add_response("describe_training_job", _job("Failed", FailureReason="AlgorithmError: diverged"))
    assert aws("deploy", "job-1") == 1
    assert (
        "Training job job-1 is Failed (AlgorithmError: diverged), not Completed: there is no model to use yet"
        in capsys.readouterr().err
    )


def test_deploy_reports_an_endpoint_that_failed(stubs, capsys):
    stubs.sagemaker.add_response("describe_training_job", _job("Completed"))
    stubs.sagemaker.add_response(
        "describe_model", {"ModelName": "job-1", "CreationTime": NOW, "ModelArn": "arn:aws:sagemaker:::model/job-1"}
    )
    stubs.sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": CONFIG_ARN})
    stubs.sagemaker.add_response("create_endpoint", {"EndpointArn": "arn:aws:sagemaker:::endpoint/classifier"})
    stubs.sagemaker.add_response(
        "describe_endpoint",
        _endpoint("Failed", FailureReason="The primary container did not pass the ping health check."),
    )
    assert aws("deploy", "job-1", "--endpoint-name", "classifier", "--wait", "--poll-seconds", "0") == 1
    assert (
        "endpoint classifier is Failed: The primary container did not pass the ping health check."
        in capsys.readouterr().err
    )


def test_deploy_stops_waiting_when_the_waiter_gives_up(stubs, capsys, monkeypatch):
    """boto3's endpoint_in_service waiter waits an hour in all: at 1,800 s a poll, two polls."""
    monkeypatch.setattr(botocore.waiter.time, "sleep", lambda seconds: None)
    stubs.sagemaker.add_response("describe_training_job", _job("Completed"))
    stubs.sagemaker.add_response(
        "describe_model", {"ModelName": "job-1", "CreationTime": NOW, "ModelArn": "arn:aws:sagemaker:::model/job-1"}
    )
    stubs.sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": CONFIG_ARN})
    stubs.sagemaker.add_response("create_endpoint", {"EndpointArn": "arn:aws:sagemaker:::endpoint/classifier"})
    for _ in range(2):
        stubs.sagemaker.add_response("describe_endpoint", _endpoint("Creating"))
    assert aws("deploy", "job-1", "--endpoint-name", "classifier", "--wait", "--poll-seconds", "1800") == 1
    assert "endpoint classifier has not finished after 60 minutes of waiting" in capsys.readouterr().err


def test_deploy_multi_model_creates_a_multi_model_model_of_the_prefix_and_its_endpoint(stubs, capsys):
    stubs.sagemaker.add_response(
        "create_model",
        {"ModelArn": "arn:aws:sagemaker:::model/classifier"},
        {
            "ModelName": "classifier",
            "PrimaryContainer": {"Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": "s3://bucket/models/"},
            "ExecutionRoleArn": ROLE_ARN,
        },
    )
    _expect_endpoint(stubs, "classifier")
    argv = ("--multi-model", "s3://bucket/models", "--endpoint-name", "classifier", "--image-uri", IMAGE)
    assert aws("deploy", *argv, "--role", ROLE_ARN) == 0
    assert "created multi-model model classifier of s3://bucket/models/" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--multi-model", MODEL_DATA, "--endpoint-name", "classifier", "--image-uri", IMAGE),
            f"--multi-model takes the S3 prefix the model archives sit under, not one archive ({MODEL_DATA}): pass "
            "s3://bucket/output/job-1/output/ to serve every archive there",
        ),
        (
            ("--multi-model", "/local/models/", "--endpoint-name", "classifier", "--image-uri", IMAGE),
            "--multi-model takes an S3 prefix (s3://bucket/models/), not /local/models/",
        ),
        (
            ("--multi-model", "s3://bucket/models/", "--endpoint-name", "classifier"),
            "--multi-model needs --image-uri (there is no training job to take them from)",
        ),
        (
            ("job-1", "--multi-model", "s3://bucket/models/", "--endpoint-name", "classifier", "--image-uri", IMAGE),
            "--multi-model serves the archives under s3://bucket/models/, not training job job-1's model",
        ),
        ((), "aws deploy needs a Completed training job's name, or --multi-model s3://PREFIX/"),
    ],
)
def test_deploy_multi_model_refuses_what_is_not_a_prefix_before_any_request(stubs, capsys, argv, message):
    assert aws("deploy", *argv) == 1
    assert message in capsys.readouterr().err


# predict


def _answer(stubs, answer, content_type):
    body = json.dumps(answer).encode()
    stubs.runtime.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json"},
        {
            "EndpointName": "classifier",
            "Body": ANY,
            "ContentType": content_type,
            "Accept": "application/json",
            "CustomAttributes": "top_k=2",
        },
    )


def test_predict_prints_the_top_classes_by_name(stubs, tmp_path, capsys):
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    _answer(
        stubs,
        {
            "prediction": [0.1, 0.7, 0.2],
            "top_k": [
                {"index": 1, "label": "square", "probability": 0.7},
                {"index": 2, "label": "triangle", "probability": 0.2},
            ],
        },
        "image/png",
    )
    assert aws("predict", "classifier", str(image), "--top-k", "2") == 0
    assert capsys.readouterr().out.splitlines() == ["1. square\t0.7000", "2. triangle\t0.2000"]


def test_predict_ranks_a_bare_list_of_probabilities_itself(stubs, tmp_path, capsys):
    image = tmp_path / "cat.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    _answer(stubs, [0.1, 0.2, 0.6, 0.1], "image/jpeg")
    assert aws("predict", "classifier", str(image), "--top-k", "2") == 0
    assert capsys.readouterr().out.splitlines() == ["1. 2\t0.6000", "2. 1\t0.2000"]


def test_predict_passes_on_the_endpoints_error(stubs, tmp_path, capsys):
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    stubs.runtime.add_client_error(
        "invoke_endpoint",
        service_error_code="ValidationException",
        service_message="Endpoint classifier of account 123456789012 not found.",
    )
    assert aws("predict", "classifier", str(image)) == 1
    assert "Endpoint classifier of account 123456789012 not found." in capsys.readouterr().err


def test_predict_without_the_image_file(stubs, tmp_path, capsys):
    assert aws("predict", "classifier", str(tmp_path / "missing.jpg")) == 1
    assert "missing.jpg is not a file" in capsys.readouterr().err


# transform


def _transform(status, **extra):
    return {
        "TransformJobName": "batch-1",
        "TransformJobArn": TRANSFORM_ARN,
        "TransformJobStatus": status,
        "ModelName": "job-1",
        "CreationTime": NOW,
        "TransformInput": {"DataSource": IMAGES},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def _start_transform(stubs):
    stubs.sagemaker.add_response("describe_training_job", _job("Completed"), {"TrainingJobName": "job-1"})
    _model_missing(stubs)
    stubs.sagemaker.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:::model/job-1"})
    stubs.sagemaker.add_response(
        "create_transform_job",
        {"TransformJobArn": TRANSFORM_ARN},
        {
            "TransformJobName": "batch-1",
            "ModelName": "job-1",
            "TransformInput": {"DataSource": IMAGES, "ContentType": "application/x-image", "SplitType": "None"},
            "TransformOutput": {"S3OutputPath": "s3://bucket/results", "Accept": "application/json"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        },
    )


def test_transform_runs_to_completion(stubs, capsys):
    _start_transform(stubs)
    for status in ("InProgress", "Completed"):
        stubs.sagemaker.add_response("describe_transform_job", _transform(status), {"TransformJobName": "batch-1"})
    assert (
        aws(
            "transform",
            "job-1",
            "s3://bucket/images",
            "s3://bucket/results",
            "--transform-job-name",
            "batch-1",
            "--wait",
            "--poll-seconds",
            "0",
        )
        == 0
    )
    assert "transform job batch-1: Completed" in capsys.readouterr().out


def test_transform_that_fails_exits_1_with_the_reason(stubs, capsys):
    _start_transform(stubs)
    stubs.sagemaker.add_response(
        "describe_transform_job",
        _transform("Failed", FailureReason="ClientError: 415 for s3://bucket/images/notes.txt"),
    )
    assert (
        aws(
            "transform",
            "job-1",
            "s3://bucket/images",
            "s3://bucket/results",
            "--transform-job-name",
            "batch-1",
            "--wait",
            "--poll-seconds",
            "0",
        )
        == 1
    )
    assert "transform job batch-1 is Failed: ClientError: 415" in capsys.readouterr().err


def test_transform_that_was_stopped_exits_1(stubs, capsys):
    _start_transform(stubs)
    stubs.sagemaker.add_response("describe_transform_job", _transform("Stopped"))
    args = ("s3://bucket/images", "s3://bucket/results", "--transform-job-name", "batch-1", "--wait")
    assert aws("transform", "job-1", *args, "--poll-seconds", "0") == 1
    assert "transform job batch-1 is Stopped: no reason given" in capsys.readouterr().err


# credentials and region


def test_missing_credentials_are_explained(monkeypatch, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)
    assert aws("status", "job-1") == 1
    assert "No AWS credentials found" in capsys.readouterr().err


def test_missing_region_is_explained(monkeypatch, capsys):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    assert aws("status", "job-1") == 1
    assert "No AWS region: pass --region or set AWS_DEFAULT_REGION" in capsys.readouterr().err


def test_deploy_multi_model_against_moto_leaves_a_multi_model_model_and_its_endpoint(stubs, monkeypatch):
    """The environment of `stubs`, the requests answered by moto's SageMaker instead of stubbers."""
    with moto.mock_aws():
        connected = clients.Clients(boto3.Session())
        monkeypatch.setattr(clients, "connect", lambda region=None, profile=None: connected)
        argv = ("--multi-model", "s3://bucket/models/", "--endpoint-name", "classifier", "--image-uri", IMAGE)
        assert aws("deploy", *argv, "--role", ROLE_ARN) == 0
        container = connected.sagemaker.describe_model(ModelName="classifier")["PrimaryContainer"]
        assert container == {"Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": "s3://bucket/models/"}
        endpoint = connected.sagemaker.describe_endpoint(EndpointName="classifier")
        assert endpoint["EndpointConfigName"] == "classifier"

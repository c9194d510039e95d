"""Several devices and several hosts through the real `train`, on CPUs: contexts, and MXNet's parameter server."""

import json
import os
import re
import shutil
import signal
import socket
import time

import mxnet as mx
import numpy as np
import psutil
import pytest
from training_process import run_train, start_train

from image_classifier import demo_data
from image_classifier.model import networks


def final_accuracy(output):
    return float(re.findall(r"^Epoch\[\d+\] Validation-accuracy=([0-9.]+)$", output, re.M)[-1])


def test_two_cpu_contexts_split_the_batch_and_learn_like_one(tmp_path):
    results = {}
    for contexts in ("1", "2"):
        base_dir = demo_data.write_job(tmp_path / contexts)  # the demo job: ends near 100%
        results[contexts] = run_train(base_dir, env={"IMAGE_CLASSIFIER_CPU_CONTEXTS": contexts})
        assert results[contexts].returncode == 0, results[contexts].stdout
    assert "Training on cpu(0), cpu(1)" in results["2"].stdout
    assert "Batches of 32 split over 2 device(s): 16+16" in results["2"].stdout
    assert "Batches of 32 split over 1 device(s): 32" in results["1"].stdout
    one, two = final_accuracy(results["1"].stdout), final_accuracy(results["2"].stdout)
    assert one >= 0.9 and abs(one - two) <= 0.05  # batch norm sees 16 images instead of 32: close, not equal


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_hosts(tmp_path, epochs, kv_store="dist_sync"):
    """Two /opt/ml trees on one machine: hosts 127.0.0.1 and 127.0.0.2 (both loopback), same data."""
    hosts = ["127.0.0.1", "127.0.0.2"]
    first = demo_data.write_job(
        tmp_path / "host1",
        96,
        40,
        16,
        num_layers=20,
        epochs=epochs,
        mini_batch_size=16,
        kv_store=kv_store,
        checkpoint_frequency=1,
        _ps_port=free_port(),
    )
    second = tmp_path / "host2"
    shutil.copytree(first, second)
    for base_dir, host in zip((first, second), hosts):
        (base_dir / "input" / "config" / "resourceconfig.json").write_text(
            json.dumps({"current_host": host, "hosts": hosts, "network_interface_name": "lo"})
        )
        (base_dir / "checkpoints").mkdir()
    return first, second


def trainable_weights(params_file):
    net = networks.build(20, 4)
    net.load_parameters(str(params_file))
    return {name: p.data().asnumpy() for name, p in net._collect_params_with_prefix().items() if p.grad_req != "null"}


@pytest.mark.parametrize("kv_store", ["dist_sync", "dist_async"])
def test_two_hosts_train_together_and_only_the_first_writes_the_model(tmp_path, kv_store):
    first, second = two_hosts(tmp_path, epochs=2, kv_store=kv_store)
    processes = [start_train(first), start_train(second)]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert (first / "model" / "image-classification-symbol.json").exists()
    assert not (second / "model").exists()
    if kv_store == "dist_sync":  # every worker pulls the same weights after each step
        ours, theirs = (
            trainable_weights(base / "checkpoints" / "epoch-0002" / "network.params") for base in (first, second)
        )
        assert all(np.array_equal(ours[name], theirs[name]) for name in ours)
        model = mx.nd.load(str(first / "model" / "image-classification-0002.params"))
        exported = sorted(float(v.sum().asscalar()) for k, v in model.items() if k.startswith("arg:"))
        assert np.allclose(exported, sorted(float(v.sum()) for v in ours.values()))


def test_a_dead_parameter_server_fails_the_job_and_leaves_no_process(tmp_path):
    first, second = two_hosts(tmp_path, epochs=100)
    processes = [start_train(first), start_train(second)]
    supervisors = [psutil.Process(process.pid) for process in processes]
    deadline = time.time() + 120
    while not (first / "model").exists():
        assert time.time() < deadline
        time.sleep(0.2)
    server = next(child for child in supervisors[1].children() if child.environ().get("DMLC_ROLE") == "server")
    everything = [p for supervisor in supervisors for p in [supervisor, *supervisor.children(recursive=True)]]
    server.kill()
    output, _ = processes[1].communicate(timeout=60)
    assert processes[1].returncode != 0
    failure = (second / "output" / "failure").read_text().splitlines()[0]
    assert failure.startswith("The parameter server on host 127.0.0.2 exited (code -9) while training ran")
    processes[0].send_signal(signal.SIGTERM)  # SageMaker stops the other hosts of a failed job
    processes[0].communicate(timeout=90)
    assert processes[0].returncode != 0
    time.sleep(1)
    assert [p.pid for p in everything if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_sharded_hosts_with_unequal_parts_run_as_many_batches(tmp_path):
    """ShardedByS3Key: each host holds its own part (64 and 32 of 96 images); num_training_samples is the whole
    channel's count, so each host trains 48 images (3 batches) an epoch and dist_sync never waits in vain."""
    first, second = two_hosts(tmp_path, epochs=2)
    for base_dir, (part, seed) in zip((first, second), ((64, 0), (32, 5))):
        demo_data.write_recordio(base_dir / "input" / "data" / "train" / "train", demo_data.samples(part, 16, seed))
        config_file = base_dir / "input" / "config" / "inputdataconfig.json"
        config = json.loads(config_file.read_text())
        config["train"]["S3DistributionType"] = "ShardedByS3Key"
        config_file.write_text(json.dumps(config))
    processes = [start_train(first), start_train(second)]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    ours, theirs = (
        trainable_weights(base / "checkpoints" / "epoch-0002" / "network.params") for base in (first, second)
    )
    assert all(np.array_equal(ours[name], theirs[name]) for name in ours)


def test_a_lost_host_ends_the_job_within_the_set_time_naming_it(tmp_path, monkeypatch):
    """kill -9 of host 2's whole process group after an epoch: host 1's worker blocks in the parameter server,
    which never notices; the watchdog ends every process of host 1's job and names the host lost."""
    monkeypatch.setenv("IMAGE_CLASSIFIER_LOST_HOST_SECONDS", "15")
    first, second = two_hosts(tmp_path, epochs=100)
    processes = [start_train(first, start_new_session=True), start_train(second, start_new_session=True)]
    try:
        supervisor = psutil.Process(processes[0].pid)
        deadline = time.time() + 120
        while not (first / "model").exists():  # epoch 0 is kept: training runs on both hosts
            assert time.time() < deadline and processes[0].poll() is None
            time.sleep(0.2)
        everything = [supervisor, *supervisor.children(recursive=True)]
        os.killpg(processes[1].pid, signal.SIGKILL)
        killed_at = time.time()
        output, _ = processes[0].communicate(timeout=90)
        assert processes[0].returncode == 1, output
        assert time.time() - killed_at < 60
        assert (
            (first / "output" / "failure")
            .read_text()
            .startswith(
                "Training on host 127.0.0.1 made no progress for 15 s: host 127.0.0.2 stopped answering (lost or stuck)"
            )
        )
        time.sleep(1)
        assert [p.pid for p in everything if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    finally:  # a failed run leaves no process behind
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()

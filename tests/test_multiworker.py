"""Two real `avgkit train` processes, each with its own TF_CONFIG (MultiWorkerMirroredStrategy,
gRPC on 127.0.0.1), train as one process does on the same global batch, write the run folder
only from the chief, resume from the chief's checkpoint, and refuse to resume from different
checkpoints. Several machines are two processes here: the run folder is shared as on a shared
file system."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avgkit import train
from avgkit.data import clips as clips_lib
from conftest import write_video

TIMEOUT = 300  # seconds a launch may take: a hung collective fails the test instead of waiting
COMPARED = ("g_loss", "d_loss", "psnr", "sharp_diff")


@pytest.fixture
def launched():
    """The processes a test starts, killed at teardown if still running."""
    processes = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_two_workers_train_as_one_process(tmp_path, launched):
    write_video(tmp_path / "Train" / "a", 20)
    clips_lib.process(tmp_path / "Train", tmp_path / "clips", 200, progress=False)
    shared = tmp_path / "shared"  # both workers' --runs_dir, as on a shared file system
    run = shared / "run"

    # 5 steps in one process; 3 steps on two workers, each taking half of the global batch
    one, chief, worker = _launch(
        launched,
        tmp_path / "first",
        [_command(tmp_path, tmp_path / "one", 5)] + _workers(tmp_path, shared, 3),
    )
    for done in (one, chief, worker):
        assert done.code == 0, done.err
    for done in (chief, worker):  # not two processes training alone, each on the whole batch
        assert "device: MultiWorkerMirroredStrategy, 2 replicas, this worker's: CPU:0" in done.out
    single = train.read_log(tmp_path / "one" / "run" / "results" / "train_log.csv")
    assert [row["step"] for row in single] == [1, 2, 3, 4, 5]
    _assert_same_losses(train.read_log(run / "results" / "train_log.csv"), single[:3])
    assert _reported(worker.out) == _reported(chief.out)  # the worker trained the same steps
    assert len(_reported(chief.out)) == 3
    checkpoint_files = {"checkpoint", "ckpt-3.index", "ckpt-3.data-00000-of-00001"}
    assert _files(run / "checkpoints") == checkpoint_files
    events = _files(run / "summaries")
    assert len(events) == 1 and f".{chief.pid}." in events.pop()  # written by the chief alone
    assert not list(worker.tmp.rglob("ckpt-*"))  # the worker's own checkpoints are deleted

    # worker 1 with a run folder of its own: it would start at 0 while the chief resumes at 3
    ports = _free_ports(2)
    commands = [
        _command(tmp_path, shared, 5, 0, ports),
        _command(tmp_path, tmp_path / "elsewhere", 5, 1, ports),
    ]
    chief, worker = _launch(launched, tmp_path / "unshared", commands)
    for done in (chief, worker):
        assert done.code == 2, done.err
        assert "the workers differ in start step: 3, 0 (" in done.err, done.err
    assert not (tmp_path / "elsewhere").exists()  # a worker writes nothing into its run folder
    assert [row["step"] for row in train.read_log(run / "results" / "train_log.csv")] == [1, 2, 3]
    assert _files(run / "checkpoints") == checkpoint_files

    # both again with --steps 5: they resume at the chief's step 3 and go on as one process
    chief, worker = _launch(launched, tmp_path / "resumed", _workers(tmp_path, shared, 5))
    for done in (chief, worker):
        assert done.code == 0, done.err
        assert f"resuming at step 3 from {run / 'checkpoints' / 'ckpt-3'}" in done.out
    _assert_same_losses(train.read_log(run / "results" / "train_log.csv"), single)
    assert _reported(worker.out) == _reported(chief.out)
    assert {"ckpt-3.index", "ckpt-5.index"} <= _files(run / "checkpoints")
    assert not list(worker.tmp.rglob("ckpt-*"))


class _Done:
    def __init__(self, process: subprocess.Popen, folder: Path):
        self.pid, self.code, self.tmp = process.pid, process.returncode, folder / "tmp"
        self.out = (folder / "stdout").read_text()
        self.err = (folder / "stderr").read_text()


def _launch(launched: list, folder: Path, commands: list) -> list[_Done]:
    """Start the commands (argv, TF_CONFIG) together, each with its own output and TMPDIR in
    folder/<i>, and wait for all of them; fail after TIMEOUT seconds."""
    processes, folders = [], []
    for index, (argv, tf_config) in enumerate(commands):
        own = folder / str(index)
        (own / "tmp").mkdir(parents=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TMPDIR=str(own / "tmp"))
        env.pop("TF_CONFIG", None)
        if tf_config:
            env["TF_CONFIG"] = json.dumps(tf_config)
        with (own / "stdout").open("w") as out, (own / "stderr").open("w") as err:
            process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, text=True)
        launched.append(process)
        processes.append(process)
        folders.append(own)
    for process, own in zip(processes, folders, strict=True):
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no end after {TIMEOUT} s: {(own / 'stderr').read_text()[-2000:]}")
    return [_Done(process, own) for process, own in zip(processes, folders, strict=True)]


def _workers(tmp_path: Path, runs_dir: Path, steps: int) -> list:
    """Worker 0 (the chief) and worker 1 of one cluster, both on `runs_dir`."""
    ports = _free_ports(2)
    return [_command(tmp_path, runs_dir, steps, task, ports) for task in (0, 1)]


def _command(tmp_path: Path, runs_dir: Path, steps: int, task=None, ports=()):
    """`avgkit train` of the tiny preset on the test's clips, and its TF_CONFIG (None: one
    process; else worker `task` of a cluster of two on `ports`)."""
    argv = [sys.executable, "-m", "avgkit.cli", "train", "-c", str(tmp_path / "clips")]
    argv += ["--preset", "tiny", "--steps", str(steps), "--stats_freq", "1", "--seed", "0"]
    argv += ["--runs_dir", str(runs_dir), "-n", "run"]
    if task is None:
        return argv, None
    workers = [f"127.0.0.1:{port}" for port in ports]
    return argv, {"cluster": {"worker": workers}, "task": {"type": "worker", "index": task}}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _assert_same_losses(log: list[dict], single: list[dict]) -> None:
    """The log has each step of the single process's once, with its values."""
    assert [row["step"] for row in log] == [row["step"] for row in single]
    for name in COMPARED:
        found = [row[name] for row in log]
        expected = [row[name] for row in single]
        np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6, err_msg=name)


def _reported(stdout: str) -> list[str]:
    """The steps and G losses a process printed."""
    return re.findall(r"^step \d+: G \S+", stdout, re.M)


def _files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}

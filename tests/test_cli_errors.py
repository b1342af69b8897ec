"""The CLI ends in one line and an exit code, never a traceback: pipes, full disks, signals, hostile flags."""

import os
import subprocess
import sys

import pytest

from nasnet.cli import EXIT_BROKEN_PIPE, main


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone, as when `| head` has read enough
    monkeypatch.setattr(sys, "stdout", os.fdopen(write_end, "w"))
    assert main(["show", "nasnet_a", "--json"]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_a_full_disk_is_one_line():
    with open("/dev/full", "w") as full:
        completed = subprocess.run(
            [sys.executable, "-m", "nasnet", "info", "nasnet_a_large", "--json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert completed.returncode == 1
    assert completed.stderr.strip() == "nasnet info: error: no space left on the device"


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "no-such-genotype"],
        ["info", "nasnet_a", "-F", "1000"],
        ["info", "nasnet_a", "--image-size", "0"],
        ["show", "/dev/zero"],
    ],
)
def test_bad_arguments_give_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 600


@pytest.mark.parametrize(
    "extra",
    [["--device", "banana"], ["--set", "epochs=" + "9" * 5000], ["--set", "noequals"]],
)
def test_train_flags_give_one_line(extra, tmp_path, capsys):
    argv = ["train", "--arch", "nasnet_a", "--data", "cifar10", "--out", str(tmp_path / "r"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 600


def test_train_on_cuda_without_cuda_is_one_line(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = ["train", "--arch", "nasnet_a", "--data", "cifar10", "--out", str(tmp_path / "r"), "--device", "cuda"]
    assert main(argv) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_ctrl_c_while_starting_up_is_one_line(monkeypatch, capsys):
    import nasnet.cli

    def interrupted():
        raise KeyboardInterrupt  # as when Ctrl-C lands while torch is being imported

    monkeypatch.setattr(nasnet.cli, "build_parser", interrupted)
    assert main(["models"]) == 130
    assert capsys.readouterr().err == "nasnet: interrupted\n"

"""``bench run launch.processes=N``: the accelerate command it restarts itself under (run for real in
tests/train/test_distributed.py), and the settings it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import build_config
from bench.errors import ConfigError
from bench.runner.launch import launch_command

FSDP = str(Path(__file__).parents[2] / "configs" / "accelerate" / "fsdp2.yaml")


@pytest.fixture(autouse=True)
def outside_a_launch(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)


def test_one_process_runs_here():
    assert launch_command(build_config(["preset=smoke"]), ["preset=smoke"]) is None


def test_several_processes_relaunch_the_same_command_data_parallel():
    overrides = ["preset=smoke", "launch.processes=4", "method=dpo"]
    command = launch_command(build_config(overrides), overrides)
    assert command[1:3] == ["launch", "--multi_gpu"] and command[0].endswith("accelerate")
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[-6:] == ["-m", "bench", "run", *overrides]


def test_a_config_file_replaces_the_data_parallel_flags():
    overrides = ["preset=smoke", "launch.processes=2", f"launch.config={FSDP}"]
    command = launch_command(build_config(overrides), overrides)
    assert command[2:4] == ["--config_file", FSDP] and "--multi_gpu" not in command


def test_inside_a_launch_the_run_goes_on(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    overrides = ["preset=smoke", "launch.processes=2"]
    assert launch_command(build_config(overrides), overrides) is None


@pytest.mark.parametrize(("overrides", "message"), [
    (["launch.processes=0"], r"launch\.processes=0 must be >= 1"),
    (["launch.config=missing.yaml"], r"launch\.config=missing\.yaml: no such file"),
    (["launch.processes=2", "executor=slurm"], r"launch\.processes > 1 with executor=slurm"),
])
def test_bad_launch_settings_are_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        build_config(["preset=smoke", *overrides])
    assert "\n" not in str(error.value)

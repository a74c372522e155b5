"""``bench run launch.processes=N``: the run starts itself again under ``accelerate launch``.

The same command as ``accelerate launch [--config_file F] --num_processes N -m bench run ...`` (README, Scale),
for users who would rather not write the launcher line. The relaunched processes see ``LOCAL_RANK`` (set by
``torchrun`` under accelerate) and run the jobs; the parent only waits and passes on their exit status.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from bench.config import RunConfig
from bench.errors import ConfigError

DATA_PARALLEL = ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
"""Without a config file: one machine, data parallel (NCCL on GPUs, gloo on CPUs); train.precision sets autocast."""


def inside_launch() -> bool:
    """Whether this process is one of a launch's (torchrun gives each its ``LOCAL_RANK``)."""
    return "LOCAL_RANK" in os.environ


def launch_command(config: RunConfig, overrides: list[str]) -> list[str] | None:
    """The ``accelerate launch`` command that runs ``bench run OVERRIDES`` over ``config.launch``'s processes, or
    None when the run is to go on in this process (one process asked for, or already inside a launch)."""
    launch = config.launch
    if (launch.processes == 1 and launch.config is None) or inside_launch():
        return None
    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists():
        found = shutil.which("accelerate")
        if found is None:
            raise ConfigError("launch.processes needs the accelerate command; pip install accelerate")
        accelerate = Path(found)
    command = [str(accelerate), "launch", *(["--config_file", launch.config] if launch.config else DATA_PARALLEL)]
    if launch.processes > 1:
        command += ["--num_processes", str(launch.processes)]
    return [*command, "-m", "bench", "run", *overrides]

"""``executor=slurm``: a run's jobs as one Slurm job array, submitted and followed through submitit.

A plan of methods x seeds x sweep points outgrows one machine; on a cluster its jobs run side by side on
nodes that share the store, the cache and submitit's folder (``slurm.folder``). The driver (the ``bench
run`` process) first prepares everything jobs share, as it does for worker processes
(:mod:`bench.runner.workers`), then submits one array element per unfinished job, with ``slurm.*``'s
partition, GPUs, cores, memory, time limit and array parallelism. Each element builds the run's
:class:`~bench.runner.run.Runner` from the config, reads the shared caches back and runs its job by plan
index, checked by label, exactly as a worker does; the job writes its own ``metrics.json``, and the
driver reads each record back from the store as its element ends.

An element that ends without a result (its job raised; it was killed, preempted, timed out, or its node
failed) is submitted again, up to ``slurm.max_retries`` times, and resumes from its job's last snapshot,
since a job resumes wherever it runs. One cancelled by hand is not. A job beyond the limit stops the run
with an error naming it and its log, raised once every other element has ended, so nothing computed is
lost; rerunning the command reuses what finished.

How the driver learns that an element ended: the result file submitit writes when the element returns;
for an element without one, ``squeue`` (``sacct`` needs an accounting database, which small clusters
such as ``scripts/slurm_single_node.sh``'s lack), then ``sacct`` through submitit for an element
``squeue`` has forgotten. A Slurm element started by the driver is cancelled when the driver stops early
(an error, Ctrl-C).

Pickles: submitit stores the element's call (function and arguments, with cloudpickle) in the driver's
own folder, and the element stores its small return value beside it. Both are this run's own data,
written and read by the same user, never a file from elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import RunConfig
from bench.errors import BenchError, ConfigError
from bench.runner.plan import Job
from bench.runner.store import latest_record
from bench.runner.workers import run_planned, start_runner

CLUSTER = "slurm"
"""submitit's executor. Tests set ``local`` (submitit's own processes on this machine) to follow the same
path without a cluster."""
POLL_SECONDS = 3.0
"""How often the driver looks for ended elements (one ``squeue`` call for all of them)."""
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE", "FINISHED", "INTERRUPTED", "GONE"}
"""States of an element that will not run again by itself: Slurm's, submitit's local ones (FINISHED,
INTERRUPTED), and GONE (neither squeue nor sacct knows it). Any other state is waited out."""
NOT_RETRIED = {"CANCELLED"}
"""Someone cancelled the element on purpose: it is reported, not resubmitted."""


def run_element(make_runner: Callable[..., Any], config: RunConfig, index: int, label: str,
                directory: str) -> tuple[dict[str, Any], float]:
    """What one array element runs: job ``index`` of the plan; what its record says beyond ``metrics.json`` (the
    mark of a job another process finished meanwhile) and its wall time. The driver reads the rest from the store."""
    runner = start_runner(make_runner, config, config.slurm.cpus_per_job, [index])
    record, seconds = run_planned(runner, index, label, directory)
    stored = latest_record(Path(directory)) or {}
    return {key: record[key] for key in record.keys() - stored.keys()}, seconds


@dataclass(eq=False)
class _Element:
    """One job of the plan and its latest submission."""

    index: int
    job: Job
    directory: Path
    submitted: Any = None
    """The submitit job of its latest element."""
    retries: int = 0


def run_on_slurm(make_runner: Callable[..., Any], config: RunConfig, pending: list[tuple[int, Job, Path]],
                 say: Callable[[str], None]) -> Iterator[tuple[Job, dict[str, Any], float]]:
    """Run ``pending`` (plan index, job, directory) as one job array; yield (job, record, seconds) as each
    element ends, resubmitting a failed one (see the module docstring). ``make_runner`` is the Runner class."""
    if not pending:
        return
    executor = _executor(config)
    elements = [_Element(index, job, directory) for index, job, directory in pending]
    _submit(executor, make_runner, config, elements)
    say(f"slurm: submitted {_count(len(elements), 'job')} as array {_array_id(elements[0])}; logs in "
        f"{executor.folder.parent}")
    waiting, failed = list(elements), []
    try:
        while waiting:
            time.sleep(POLL_SECONDS)
            retry = []
            for element, state in _ended(waiting):
                waiting.remove(element)
                try:
                    extra, seconds = _result(element, state)
                except _ElementFailed as failure:
                    if element.retries < config.slurm.max_retries and state not in NOT_RETRIED:
                        element.retries += 1
                        retry.append(element)
                        say(f"{element.job.label}: element {element.submitted.job_id} {failure}; resubmitted (retry "
                            f"{element.retries} of {config.slurm.max_retries}), it resumes from its snapshot, if any")
                    else:
                        retries = _count(element.retries, "retry", "retries")
                        failed.append(f"{element.job.label}: element {element.submitted.job_id} {failure} (after "
                                      f"{retries}); log {element.submitted.paths.stderr}")
                    continue
                yield element.job, _record(element, extra), seconds
            if retry:
                _submit(executor, make_runner, config, retry)
                waiting += retry
    finally:
        for element in waiting:  # the driver stopped early: its elements stop too (finished jobs are kept)
            element.submitted.cancel(check=False)
    if failed:
        raise BenchError(f"{len(failed)} of {_count(len(elements), 'job')} did not finish on Slurm: "
                         f"{'; '.join(failed)}. Fix what the log shows and run the same command again (finished "
                         "jobs are reused, these resume from their snapshots), or raise slurm.max_retries")


def slurm_plan(config: RunConfig) -> str:
    """How the plan runs, for the run's plan line."""
    settings = config.slurm
    where = f"partition {settings.partition}" if settings.partition else "the default partition"
    gpus = f", {_count(settings.gpus_per_job, 'GPU')}" if settings.gpus_per_job else ""
    return (f"submitted to Slurm as one job array ({where}, at most {settings.array_parallelism} at a time, "
            f"{_count(settings.cpus_per_job, 'CPU')}{gpus} and {settings.time_minutes} min each)")


def _executor(config: RunConfig) -> Any:
    """submitit's executor for ``config``'s array, its folder ``slurm.folder`` (default ``<store>/.slurm``)."""
    try:
        import submitit
    except ImportError as exc:
        raise ConfigError("executor=slurm needs submitit: pip install 'bench[scale]' (or submitit), or run with "
                          "executor=local") from exc
    if CLUSTER == "slurm" and shutil.which("sbatch") is None:
        raise ConfigError("executor=slurm: sbatch is not on PATH, so this machine cannot submit to Slurm; run on "
                          "a cluster's login node, start one with scripts/slurm_single_node.sh, or use executor=local")
    settings = config.slurm
    folder = Path(settings.folder) if settings.folder else Path(config.store) / ".slurm"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=CLUSTER)
    executor.update_parameters(name="bench", timeout_min=settings.time_minutes, cpus_per_task=settings.cpus_per_job,
                               gpus_per_node=settings.gpus_per_job or None, mem_gb=settings.mem_gb,
                               slurm_partition=settings.partition,
                               slurm_array_parallelism=settings.array_parallelism)
    return executor


def _submit(executor: Any, make_runner: Callable[..., Any], config: RunConfig, elements: list[_Element]) -> None:
    """Submit ``elements`` as one array (one element each); a submission Slurm refuses is said in one line."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    try:
        jobs = executor.map_array(run_element, [make_runner] * len(elements), [config] * len(elements),
                                  [e.index for e in elements], [e.job.label for e in elements],
                                  [str(e.directory) for e in elements])
    except (FailedJobError, FailedSubmissionError) as exc:
        refusal = [line.strip() for line in str(exc).splitlines() if line.strip()] or ["no reason given"]
        raise ConfigError(f"executor=slurm: Slurm refused the array ({refusal[0]}); check slurm.partition,"
                          " slurm.gpus_per_job, slurm.mem_gb, slurm.time_minutes against the cluster (sinfo)") from exc
    for element, job in zip(elements, jobs, strict=True):
        element.submitted = job


def _count(count: int, thing: str, many: str | None = None) -> str:
    """``1 job``, ``2 jobs``; ``many`` for an irregular plural."""
    return f"{count} {thing if count == 1 else many or thing + 's'}"


def _array_id(element: _Element) -> str:
    return str(element.submitted.job_id).split("_")[0]


def _ended(elements: list[_Element]) -> list[tuple[_Element, str]]:
    """The elements that ended, with their state (RETURNED: the element returned, with a result or an error)."""
    returned = [e for e in elements if e.submitted.paths.result_pickle.exists()]
    states = _states([e.submitted for e in elements if e not in returned])
    ended = [(e, "RETURNED" if e in returned else states.get(e.submitted.job_id, "")) for e in elements]
    return [(e, state) for e, state in ended if state == "RETURNED" or state in ENDED]


def _states(jobs: list[Any]) -> dict[str, str]:
    """Each job's scheduler state (its first word: sacct says ``CANCELLED by 0``); {} when squeue does not answer."""
    if not jobs:
        return {}
    if CLUSTER != "slurm":
        return {job.job_id: job.state.upper() for job in jobs}  # submitit's local jobs: their own process
    try:
        listing = subprocess.run(["squeue", "--noheader", "--array", "--states=all", f"--user={os.getuid()}",
                                  "--format=%i|%T"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}  # asked again at the next poll
    queue = dict(line.strip().split("|", 1) for line in listing.splitlines() if "|" in line)
    states = {}
    for job in jobs:
        state = queue.get(job.job_id) or job.state.upper()  # forgotten by squeue: sacct, where there is one
        states[job.job_id] = state.split()[0] if state.split() and state != "UNKNOWN" else "GONE"
    return states


class _ElementFailed(Exception):
    """An element ended without a usable result; the message says how, in a few words."""


def _result(element: _Element, state: str) -> tuple[dict[str, Any], float]:
    """What an ended element returned; :class:`_ElementFailed` when it returned none or raised."""
    returned = state in ("RETURNED", "COMPLETED") or element.submitted.paths.result_pickle.exists()
    if not returned:  # (a completed element's result file may still be on its way: result() waits for it)
        raise _ElementFailed(f"ended {state} without a result")
    try:
        return element.submitted.result()
    except Exception as exc:  # the job raised (its traceback is in the log), or the result never came
        raise _ElementFailed(f"raised {_exception_line(str(exc))}") from exc


def _exception_line(message: str) -> str:
    """The exception a submitit failure reports: the last line of the traceback it frames with dashes, else its
    first line (a result that never came)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    frames = [number for number, line in enumerate(lines) if set(line) == {"-"}]
    if len(frames) >= 2 and frames[1] > frames[0] + 1:
        return lines[frames[1] - 1]
    return lines[0] if lines else "an error"


def _record(element: _Element, extra: dict[str, Any]) -> dict[str, Any]:
    """The job's record, read back from the store, with what the element said beyond it."""
    stored = latest_record(element.directory)
    if stored is None and not extra:
        raise BenchError(f"{element.job.label}: its element returned but {element.directory}/metrics.json is "
                         f"missing or damaged; run the same command again (the job is redone)")
    return {**(stored or {}), **extra}

"""Running a run's jobs in worker processes, so the cores of a CPU machine train and evaluate several at once.

Gym jobs are small (a sub-million-parameter model) and much of a job is single-threaded Python
(the sampling loop, judges, the length-controlled GLM fit), so on two cores two single-thread jobs side
by side finish sooner than the same jobs one after the other with two threads each (measured: 50.6 s
against 65.7 s for four jobs). Results do not depend on it: a job's weights are bit-identical with one
thread or two (checked on dpo), and every job keeps its own seed and data order.

The parent prepares everything jobs share before any worker starts (reference passes, the SAE,
reference samples and the outcome model, the reference's own evaluation), all of it cached on disk.
Each worker then builds its own :class:`~bench.runner.run.Runner` from the run's config, which reads
those caches back, and trains, evaluates and records the jobs it is handed; a job is named by its index
in the plan and checked by its label, and it writes its own ``metrics.json``, so a job finished by a
worker survives a failure elsewhere. Workers are spawned, not forked: a fork of a process whose OpenMP
thread pool has started can hang. A Slurm array element (:mod:`bench.runner.slurm`) is set up and runs its
job the same way (:func:`start_runner`, :func:`run_planned`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from bench.config import RunConfig
from bench.errors import PlanError
from bench.notices import show_notices
from bench.runner.plan import Job

MAX_AUTOMATIC_WORKERS = 4
"""Each worker holds its own copy of the world, the policy and the reference: more is the user's call."""
MIN_JOBS_FOR_WORKERS = 4
"""A worker pays several seconds to start (imports, the world read back from the cache), which only
pays off over a few jobs; fewer run in the parent process."""

_RUNNER: Any = None
"""The worker process's :class:`~bench.runner.run.Runner`, built once by :func:`_start_worker`."""


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS reports one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def worker_count(requested: int, pending: int) -> int:
    """How many jobs to run at once: ``requested`` (``workers=N``) or, for 0, the automatic choice."""
    if requested:
        return max(1, min(requested, pending))
    if torch.cuda.is_available() or pending < MIN_JOBS_FOR_WORKERS:
        return 1  # one accelerator is not shared between processes; a few jobs are quicker in-process
    return max(1, min(usable_cores(), MAX_AUTOMATIC_WORKERS, pending))


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_runner(make_runner: Callable[..., Any], config: RunConfig, threads: int, pending: list[int]) -> Any:
    """The run's runner in a process of its own (a worker, a Slurm element: :mod:`bench.runner.slurm`): its
    share of the cores, no progress bars, and the reference caches of the ``pending`` jobs (plan indices) read
    back from the parent's pass. Lines of its jobs go to standard error.

    ``make_runner`` is the Runner class itself (passed, not imported, so this module stays below it).
    """
    torch.set_num_threads(threads)
    show_notices()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    runner = make_runner(replace(config, progress=False), say=lambda line: None)  # the parent said it all
    runner.reference_pass([runner.planned_job(index) for index in pending])
    runner.say = _say
    return runner


def run_planned(runner: Any, index: int, label: str, directory: str | Path) -> tuple[dict[str, Any], float]:
    """Train, evaluate and record job ``index`` of ``runner``'s plan, checked to be the parent's ``label`` and
    ``directory`` (the same key: the same code); its record and wall time."""
    job = runner.planned_job(index)
    if job.label != label:
        raise PlanError(f"process planned job {index} as {job.label!r}, the run as {label!r}: the plan is not "
                        "reproducible from the config; run with workers=1 executor=local and report it")
    if (keyed := runner.job_directory(job)) != Path(directory):  # a Slurm element may start hours later
        raise PlanError(f"{label}: the code changed after the run planned it (job {Path(directory).name}, now "
                        f"{keyed.name}); run the same command again (finished jobs are reused)")
    return runner.run_and_record(job, Path(directory))


def _start_worker(make_runner: Callable[..., Any], config: RunConfig, threads: int, pending: list[int]) -> None:
    """Process initialiser: the worker's runner, built once (:func:`start_runner`)."""
    global _RUNNER
    _RUNNER = start_runner(make_runner, config, threads, pending)


def _run_job(index: int, label: str, directory: str) -> tuple[dict[str, Any], float]:
    """Train, evaluate and record job ``index`` of the plan in this worker; its record and wall time."""
    assert _RUNNER is not None, "the worker was not started by run_in_workers"
    return run_planned(_RUNNER, index, label, directory)


def run_in_workers(make_runner: Callable[..., Any], config: RunConfig, pending: list[tuple[int, Job, Path]],
                   workers: int) -> Iterator[tuple[Job, dict[str, Any], float]]:
    """Run ``pending`` (plan index, job, directory) in ``workers`` processes; yield (job, record, seconds)
    as each finishes. On an error the queued jobs are cancelled, the running ones finish (and are kept),
    and the error is raised."""
    threads = max(1, usable_cores() // workers)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(make_runner, config, threads, [index for index, _, _ in pending]))
    try:
        futures = {pool.submit(_run_job, index, job.label, str(directory)): job for index, job, directory in pending}
        for future in as_completed(futures):
            record, seconds = future.result()
            yield futures[future], record, seconds
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

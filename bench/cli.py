"""The ``bench`` command line: run, leaderboard, publish, compare, regress, list, show.

User errors (:class:`~bench.errors.BenchError`) print as one line and exit with status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import dataclasses
import errno
import shlex
import subprocess
import sys
from pathlib import Path

import click

from bench.errors import BenchError
from bench.notices import show_notices

ENVIRONMENT_FAULTS: dict[int, str] = {
    errno.ENOSPC: "free some space (the cache= directory holds only derived data and may be deleted) and run the "
                  "same command again: finished work is kept",
    errno.EDQUOT: "free some of your quota and run the same command again: finished work is kept",
    errno.EROFS: "the file system is read-only; use a writable store= and cache=",
    errno.EACCES: "you may not write there; fix its permissions or use another store= / cache=",
    errno.EPERM: "you may not write there; fix its permissions or use another store= / cache=",
    errno.ENOTDIR: "a path in the way is a file, not a directory; fix store= / cache= or remove the file",
    errno.EIO: "the disk reported an I/O error; check it, then run the same command again",
}
"""Operating-system errors that are the machine's state, not a bug: one line each, saying what to do."""


def _fault_line(exc: OSError) -> str:
    where = f" while writing {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}; {ENVIRONMENT_FAULTS[exc.errno]}"


class BenchGroup(click.Group):
    """Turns BenchError, and the environment faults of :data:`ENVIRONMENT_FAULTS`, into one line unless --debug."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (BenchError, OSError) as exc:
            if (ctx.obj and ctx.obj.get("debug")) or (isinstance(exc, OSError) and exc.errno not in ENVIRONMENT_FAULTS):
                raise
            click.echo(f"error: {exc if isinstance(exc, BenchError) else _fault_line(exc)}", err=True)
            sys.exit(2)


@click.group(cls=BenchGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks for user errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Train and evaluate preference-optimisation objectives side by side."""
    ctx.obj = {"debug": debug}
    show_notices()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # bench reports its own progress; weight-loading bars are noise


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def run(overrides: tuple[str, ...]) -> None:
    """Train and evaluate methods: bench run method=all seed=0,1,2 train.steps=200 methods.dpo.beta=0.05"""
    from bench.config import build_config
    from bench.runner.launch import launch_command
    from bench.runner.run import run as run_all

    config = build_config(list(overrides))
    command = launch_command(config, list(overrides))
    if command is not None:  # launch.processes: the run goes on in the launched processes
        click.echo(f"launching: {shlex.join(command)}", err=True)
        sys.exit(subprocess.call(command))
    result = run_all(config, say=lambda line: click.echo(line, err=True))
    if not result.reports:
        return
    _echo_tables(result.leaderboards)
    published = (f"leaderboards: {', '.join(str(p) for p in result.leaderboards)}" if result.leaderboards
                 else f"checkpoints under {config.store} (eval.evaluators is empty: nothing evaluated)")
    click.echo(f"\n{result.jobs} jobs ({result.trained} run, {result.reused} reused) in {result.seconds:.1f}s; "
               f"{published}", err=True)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def key(overrides: tuple[str, ...]) -> None:
    """Print the comparability key of a run (its table), without training: bench key seed=0,1,2 tune=lr,beta"""
    from bench.config import build_config
    from bench.runner.run import Runner

    runner = Runner(build_config([*overrides, "progress=false"]), say=lambda line: click.echo(line, err=True))
    click.echo(runner.comparability_key())


@main.command()
@click.option("--store", default="runs", show_default=True, type=click.Path(path_type=Path),
              help="Results store written by bench run.")
@click.option("--out", default=None, type=click.Path(path_type=Path), help="Where to write (default: the store).")
def leaderboard(store: Path, out: Path | None) -> None:
    """Build the leaderboard tables (Markdown, CSV) from a results store."""
    from bench.gym.frontier import stored_frontiers
    from bench.leaderboards.render import FRONTIER_FILE, write_leaderboard

    if store.exists() and not store.is_dir():
        raise BenchError(f"--store {store} is a file; give the results store directory that `bench run` wrote")
    if not store.is_dir():
        raise BenchError(f"results store {store} does not exist; run `bench run` first or pass --store")
    paths = write_leaderboard(store, out or store, frontiers=stored_frontiers(store, FRONTIER_FILE))
    _echo_tables(paths)
    click.echo(f"wrote {', '.join(str(p) for p in paths)}", err=True)


@main.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to write the publication into.")
@click.option("--title", default="bench leaderboard", show_default=True, help="Title of index.html.")
@click.option("--key", "keys", multiple=True,
              help="Publish only the table of this comparability key (a prefix will do; repeatable). `bench key` "
                   "prints a run's key.")
def publish(stores: tuple[Path, ...], out: Path, title: str, keys: tuple[str, ...]) -> None:
    """Publish one or several results stores: site, LaTeX, CSV/Markdown, results.json, figures.

    Stores of the same comparability key merge into one table; different keys stay separate tables. A store
    keeps the tables of every benchmark its jobs were evaluated for (earlier evaluations included): --key
    picks the ones to publish.
    """
    from bench.gym.frontier import stored_frontiers
    from bench.leaderboards.publish import publish as publish_stores
    from bench.leaderboards.render import FRONTIER_FILE

    for store in stores:
        if not store.is_dir():
            raise BenchError(f"results store {store} does not exist or is not a directory; give the store "
                             f"`bench run` wrote (its store= setting)")
    frontiers = {}
    for store in stores:
        frontiers.update({k: v for k, v in stored_frontiers(store, FRONTIER_FILE).items() if k not in frontiers})
    paths = publish_stores(list(stores), out, frontiers, title, keys)
    click.echo(f"wrote {len(paths)} files under {out}; open {out / 'index.html'}", err=True)


@main.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
def compare(old: Path, new: Path) -> None:
    """Flag every metric that moved beyond its intervals between two results.json files (exit 1 if any)."""
    from bench.leaderboards.compare import compare as compare_results
    from bench.leaderboards.results_file import read_results

    outcome = compare_results(read_results(old), read_results(new))
    for change in outcome.changes:
        click.echo(change.line())
    for note in outcome.notes:
        click.echo(f"note: {note}")
    verdict = "PASS" if outcome.passed else f"FAIL: {len(outcome.changes)} metric(s) moved beyond their intervals"
    click.echo(f"{verdict} ({outcome.compared} configurations compared)")
    if not outcome.passed:
        sys.exit(1)


def _echo_tables(paths: list[Path]) -> None:
    """Print the Markdown leaderboards just written (the same text as the files)."""
    from bench.leaderboards.render import MARKDOWN_FILE

    for path in paths:
        if path.name == MARKDOWN_FILE:
            click.echo(path.read_text())


@main.group(name="list")
def list_() -> None:
    """List registered plug-ins."""


@list_.command()
def methods() -> None:
    """Every registered objective: family, reduction, needs, defaults and source."""
    from bench.methods import METHODS, build_objective

    rows = []
    for name in METHODS.names():
        objective = build_objective(name)
        needs = objective.needs
        declared = [f.name if value is True else f"{f.name}={_need_text(value)}"
                    for f in dataclasses.fields(needs)
                    if f.name != "data" and (value := getattr(needs, f.name)) is not None and value != f.default]
        defaults = {k: v for k, v in objective.hyperparameters().items() if k != "reduction"}
        rows.append({"name": name, "family": objective.family, "reduction": objective.reduction,
                     "data": needs.data, "needs": ", ".join(declared) or "-",
                     "defaults": ", ".join(f"{k}={v}" for k, v in defaults.items()) or "-",
                     "source": objective.source})
    _echo_rows(rows)


@list_.command()
def evaluators() -> None:
    """Every registered evaluator: whether it is a default, what it needs, and what it measures."""
    from bench.evaluators import DEFAULT_EVALUATORS, EVALUATORS

    rows = []
    for name in EVALUATORS.names():
        cls = EVALUATORS.get(name)
        needs = [label for flag, label in ((cls.needs_judges, "a judge"), (cls.needs_logps, "log-probs"),
                                           (cls.needs_heldout_pairs, "held-out pairs"),
                                           (cls.needs_token_entropy, "token entropies")) if flag]
        rows.append({"name": name, "default": "yes" if name in DEFAULT_EVALUATORS else "-",
                     "needs": ", ".join(needs) or "-", "measures": _first_sentence(cls.__doc__)})
    _echo_rows(rows)


@list_.command()
def sources() -> None:
    """Every data source ``data.source=`` accepts (the gym, and the registered ones) and the formats they read."""
    from bench.data.formats import FORMATS
    from bench.data.sources import SOURCES

    rows = [{"name": "gym", "reads": "the embedded benchmark: its reference model, data kinds and judges"}]
    rows += [{"name": name, "reads": _first_sentence(SOURCES.get(name).__doc__)} for name in SOURCES.names()]
    _echo_rows(rows)
    click.echo(f"\nformats (data.format=, detected from the columns by default): {', '.join(FORMATS)}")


@list_.command()
def selectors() -> None:
    """Every registered data selector and its parameters."""
    from bench.data.selectors import SELECTORS

    rows = [{"name": name, "parameters": ", ".join(f"{f.name}={f.default}" for f in
                                                   dataclasses.fields(SELECTORS.get(name))) or "-",
             "selects": _first_sentence(SELECTORS.get(name).__doc__)} for name in SELECTORS.names()]
    _echo_rows(rows)


@list_.command()
def judges() -> None:
    """Every judge kind ``eval.judges.NAME=KIND:ARGUMENT`` accepts, with the options it takes."""
    import inspect

    from bench.evaluators.judges import JUDGE_KINDS, judge_class

    rows = []
    for kind, (_, _, argument) in JUDGE_KINDS.items():
        cls = judge_class(kind)
        options = [f"{p.name}={p.default}" for p in inspect.signature(cls.__init__).parameters.values()
                   if p.name not in ("self", argument)]
        rows.append({"kind": kind, "spec": f"{kind}:<{argument}>", "options (eval.judge_options.NAME.*)":
                     ", ".join(options) or "-", "judges by": _first_sentence(cls.__doc__)})
    _echo_rows(rows)


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    return text.split(". ")[0].rstrip(".") if text else "-"


def _echo_rows(rows: list[dict]) -> None:
    import pandas as pd

    click.echo(pd.DataFrame(rows).to_markdown(index=False))


def _need_text(value: object) -> str:
    """A declared need as a listing shows it: FPO's SAE codes in words, anything else as it prints."""
    from bench.methods.base import SaeCodes

    if isinstance(value, SaeCodes):
        where = "the SAE's layer" if value.layer is None else f"block {value.layer}"
        return f"top-{value.top_k} codes at {where}"
    return str(value)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("method")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option("--update-baselines", is_flag=True,
              help="Record this run's metrics as METHOD's baseline (after the contract checks pass).")
@click.option("--baselines", type=click.Path(path_type=Path), default=None,
              help="Baselines file (default: bench/runner/regress_baselines.json, the committed one).")
def regress(method: str, overrides: tuple[str, ...], update_baselines: bool, baselines: Path | None) -> None:
    """Regression-test an objective: contract checks, then the embedded benchmark against its baseline.

    bench regress dpo | bench regress my_dpo methods.my_dpo.beta=0.05 | bench regress all --update-baselines

    Exits 1 when a contract check fails or a metric falls outside its tolerance; a method without a
    baseline is run, its numbers printed with the command that records them, and exits 0.
    """
    from bench.runner.regress import BASELINES
    from bench.runner.regress import regress as run_regress

    report = run_regress(method, list(overrides), baselines or BASELINES,
                         say=lambda line: click.echo(line, err=True), update=update_baselines)
    click.echo(report.render())
    if not report.passed:
        sys.exit(1)


@main.group()
def report() -> None:
    """Reports built from several runs."""


@report.command(context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option("--study", "studies", multiple=True,
              help="Run only this study (fpo, rpo, causal, selectors); repeatable. Default: all.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma list of seeds (at least 3 for verdicts).")
@click.option("--root", default="runs/seeds", show_default=True, type=click.Path(path_type=Path),
              help="Where the studies' results stores live.")
@click.option("--out", default="docs/seeds.md", show_default=True, type=click.Path(path_type=Path))
def seeds(overrides: tuple[str, ...], studies: tuple[str, ...], seeds: str, root: Path, out: Path) -> None:
    """Each seed paper's comparison on the gym over several seeds, with verdicts: bench report seeds"""
    from bench.runner.seeds_report import SeedsReport, studies_named

    report = SeedsReport(root, _seed_list(seeds), tuple(overrides), say=lambda line: click.echo(line, err=True))
    for study in studies_named(list(studies)):
        report.run_study(study)
    path = report.write(studies_named([]), out)
    click.echo(path.read_text())
    click.echo(f"wrote {path}", err=True)


@report.command(context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option("--study", "studies", multiple=True,
              help="Run only this study (dpo, length-token-divergence, reference-free-anchored, "
                   "reward-outcome-online); repeatable. Default: all.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma list of seeds (at least 2).")
@click.option("--root", default="runs/frontier", show_default=True, type=click.Path(path_type=Path),
              help="Where the studies' results stores live.")
@click.option("--out", default="docs/frontier.md", show_default=True, type=click.Path(path_type=Path))
def frontier(overrides: tuple[str, ...], studies: tuple[str, ...], seeds: str, root: Path, out: Path) -> None:
    """Every objective's reward-KL curve against the optimal frontier: bench report frontier --study dpo"""
    from bench.runner.frontier_report import STUDIES, FrontierReport, studies_named

    report = FrontierReport(root, _seed_list(seeds), tuple(overrides), say=lambda line: click.echo(line, err=True))
    for study in studies_named(list(studies)):
        report.run_study(study)
    path = report.write(STUDIES, out)
    click.echo(path.read_text())
    click.echo(f"wrote {path}", err=True)


def _seed_list(seeds: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError as exc:
        raise BenchError(f"--seeds={seeds!r}: give a comma list of integers, e.g. --seeds 0,1,2") from exc


@main.command()
@click.argument("what", type=click.Choice(["config"]))
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def show(what: str, overrides: tuple[str, ...]) -> None:
    """Show the resolved configuration (with overrides applied)."""
    from bench.config import build_config, to_yaml

    click.echo(to_yaml(build_config(list(overrides))))


if __name__ == "__main__":
    main()

"""Bad inputs and environment faults through the real command line: one line, exit 2, nothing written.

Every case runs ``bench`` in-process (click's CliRunner on :func:`bench.cli.main`) against a results
store that already holds finished work (one smoke run of dpo and simpo, made once for the module), and
checks the promise the CLI makes for every user error (STYLE.md, house rules):

1. the exit status is 2;
2. the output holds exactly one line starting with ``error: ``, no ``Traceback`` anywhere, and that line
   names the problem (the key, file, line number or value the case got wrong);
3. nothing changed on disk: every file and directory under the shared store, and under the case's own
   ``tmp_path`` (its data files, model directories and stores), has the same relative path, size,
   sha256 and mode bits before and after.

A case is ``(id, build, expected)``: ``build(ctx)`` returns the command line (for ``bench run``, the
overrides after ``preset=smoke progress=false store=... cache=...``), and ``expected`` is a substring
(or several) the error line must contain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.fingerprint import STAMP_FILE
from bench.integrity import MANIFEST

# --- helpers ---------------------------------------------------------------------------------------


def run_cli(args: list[str]) -> tuple[int, str]:
    """Run ``bench ARGS`` in-process; return its exit code and everything it printed (click >= 8.2 keeps
    stderr in ``output``). An exception the CLI let escape is appended as its traceback, so it fails the
    'no Traceback' check with the evidence in the report."""
    result = CliRunner().invoke(main, args)
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += "".join(traceback.format_exception(result.exception))
    return result.exit_code, output


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every file and directory under ``root``: relative path -> (kind, size, sha256, mode bits)."""
    entries: dict[str, tuple[Any, ...]] = {}
    if not root.exists():
        return entries
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        relative = str(path.relative_to(root))
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries[relative] = ("file", info.st_size, digest, stat.S_IMODE(info.st_mode))
        else:
            entries[relative] = ("dir" if stat.S_ISDIR(info.st_mode) else "other", None, None,
                                 stat.S_IMODE(info.st_mode))
    return entries


@dataclass
class Ctx:
    """What a case may build its command line from."""

    tmp: Path
    store: Path
    cache: Path
    reference: Path
    """The smoke gym's reference model directory (a valid ``save_pretrained`` layout)."""

    def run(self, *overrides: str) -> list[str]:
        """``bench run`` on the smoke preset, the shared store and cache, then ``overrides``."""
        return ["run", "preset=smoke", "progress=false", f"store={self.store}", f"cache={self.cache}", *overrides]

    def file(self, name: str, content: str | bytes = "x\n") -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def data_run(self, data: Path, test: Path, *overrides: str) -> list[str]:
        """``bench run`` of dpo on a JSONL training file ``data`` with test prompts ``test`` and the smoke
        reference model."""
        return self.run("method=dpo", "data.source=jsonl", f"data.path={data}", f"data.test.path={test}",
                        f"model.path={self.reference}", *overrides)

    def jsonl(self, *overrides: str, rows: list[Any] | None = None, raw: str | bytes | None = None) -> list[str]:
        """:meth:`data_run` on ``train.jsonl`` holding ``rows`` as JSON lines (or ``raw`` bytes/text) and valid
        test prompts."""
        data = self.file("train.jsonl", raw if raw is not None else _lines(*(rows or [])))
        return self.data_run(data, self.test_prompts(), *overrides)

    def trl(self, rows: list[Any], *overrides: str) -> list[str]:
        """dpo on ``trl.jsonl`` holding TRL-format ``rows``, read through the ``hf`` source."""
        data = self.file("trl.jsonl", _lines(*rows))
        return self.run("method=dpo", "data.source=hf", f"data.path={data}", f"data.test.path={self.test_prompts()}",
                        f"model.path={self.reference}", *overrides)

    def test_prompts(self) -> Path:
        return self.file("test.jsonl", _lines(*(_pair(f"t{i}") for i in range(3))))

    def model_dir(self, name: str, *, keep: Callable[[Path], bool] = lambda p: True,
                  config: dict[str, Any] | None = None, extra: dict[str, bytes] | None = None) -> Path:
        """A copy of the reference model directory keeping the files ``keep`` accepts, with ``config``
        merged into its config.json and ``extra`` files added."""
        target = self.tmp / name
        target.mkdir()
        for path in self.reference.iterdir():
            if path.is_file() and (path.name == "config.json" or keep(path)):
                shutil.copy2(path, target / path.name)
        if config:
            merged = {**json.loads((target / "config.json").read_text()), **config}
            (target / "config.json").write_text(json.dumps(merged))
        for file_name, content in (extra or {}).items():
            (target / file_name).write_bytes(content)
        return target


def _pair(row_id: str = "p1", **changes: Any) -> dict[str, Any]:
    row = {"id": row_id, "prompt": "review the phone .", "kind": "pairs",
           "responses": [{"text": "the screen is good ."}, {"text": "bad ."}]}
    return {**row, **changes}


def _kwise(row_id: str = "k1", **changes: Any) -> dict[str, Any]:
    responses = [{"text": "a .", "score": 1.0}, {"text": "b .", "score": 0.5}]
    return _pair(row_id, **{"kind": "kwise", "responses": responses, **changes})


def _unpaired(row_id: str = "u1", label: Any = 1) -> dict[str, Any]:
    return _pair(row_id, kind="unpaired", responses=[{"text": "good .", "label": label}])


def _lines(*rows: Any) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def _unwritable_store(ctx: Ctx) -> list[str]:
    """A store the user may not create: inside a read-only directory, or (as root, who ignores
    permissions) under a path whose parent is a file."""
    if os.geteuid() == 0:
        return ctx.run(f"store={ctx.file('blocker')}/store")
    locked = ctx.tmp / "readonly"
    locked.mkdir()
    locked.chmod(0o555)
    return ctx.run(f"store={locked}/store")


def _weights(path: Path) -> bool:
    return path.suffix == ".safetensors" or path.name.endswith(".safetensors.index.json")


# --- the table -------------------------------------------------------------------------------------

Case = tuple[str, Callable[[Ctx], list[str]], str | tuple[str, ...]]

CONFIG: list[Case] = [
    ("unknown-key", lambda c: c.run("train.stepz=3"), "train.stepz"),
    ("key-without-equals", lambda c: c.run("train.steps200"), "train.steps200"),
    ("steps-zero", lambda c: c.run("train.steps=0"), "train.steps"),
    ("steps-not-a-number", lambda c: c.run("train.steps=abc"), ("train.steps", "abc")),
    ("micro-batch-zero", lambda c: c.run("train.micro_batch_size=0"), "train.micro_batch_size"),
    ("online-steps-zero", lambda c: c.run("train.online_steps=0"), "train.online_steps"),
    ("lr-inf", lambda c: c.run("train.lr=inf"), "train.lr"),
    ("lr-nan", lambda c: c.run("train.lr=nan"), "train.lr"),
    ("lr-negative", lambda c: c.run("train.lr=-1"), "train.lr=-1"),
    ("warmup-ratio-above-one", lambda c: c.run("train.warmup_ratio=1.5"), "train.warmup_ratio=1.5"),
    ("warmup-steps-past-steps", lambda c: c.run("train.warmup_steps=999"), "train.warmup_steps=999"),
    ("beta-not-a-number", lambda c: c.run("method=dpo", "methods.dpo.beta=abc"), "methods.dpo.beta"),
    ("beta-nan", lambda c: c.run("method=dpo", "methods.dpo.beta=nan"), "methods.dpo.beta"),
    ("beta-negative", lambda c: c.run("method=dpo", "methods.dpo.beta=-1"), "methods.dpo.beta"),
    ("unknown-hyperparameter", lambda c: c.run("method=dpo", "methods.dpo.betta=0.1"), "methods.dpo.betta"),
    ("unknown-reduction", lambda c: c.run("method=dpo", "methods.dpo.reduction=avg"), ("reduction", "avg")),
    ("method-key-two-parts", lambda c: c.run("methods.dpo=0.1"), "methods.dpo"),
    ("sweep-not-numbers", lambda c: c.run("method=dpo", "sweep.dpo.beta=a,b"), "sweep.dpo.beta"),
    ("sweep-empty", lambda c: c.run("method=dpo", "sweep.dpo.beta="), "sweep.dpo.beta"),
    ("hyperparameter-of-unselected-method", lambda c: c.run("method=dpo", "methods.simpo.beta=0.1"),
     "methods.simpo"),
    ("sweep-selects-on-unknown-judge",
     lambda c: c.run("method=dpo", "sweep.dpo.beta=0.05,0.1", "eval.select_on=nosuch"), "eval.select_on"),
    ("unknown-method", lambda c: c.run("method=nosuch"), "nosuch"),
    ("empty-method", lambda c: c.run("method="), "method="),
    ("unknown-selector", lambda c: c.run("method=dpo", "selector=nosuch"), "nosuch"),
    ("empty-selector", lambda c: c.run("method=dpo", "selector="), "selector="),
    ("selector-ratio-above-one", lambda c: c.run("method=dpo", "selector=random", "selectors.random.ratio=2"),
     ("selectors.random", "ratio")),
    ("removed-key", lambda c: c.run("data.selector=random"), "data.selector"),
    ("seed-negative", lambda c: c.run("seed=-1"), "seed=-1"),
    ("seed-not-a-number", lambda c: c.run("seed=abc"), ("seed", "abc")),
    ("unknown-dtype", lambda c: c.run("model.dtype=nonsense"), ("model.dtype", "nonsense")),
    ("unknown-backend", lambda c: c.run("generate.backend=tf"), ("generate.backend", "tf")),
    ("zero-samples-per-prompt", lambda c: c.run("generate.samples_per_prompt=0"), "generate.samples_per_prompt"),
    ("unknown-evaluator", lambda c: c.run("eval.evaluators=[nosuch]"), "nosuch"),
    ("judge-name-escapes-store", lambda c: c.run("eval.judges.../../escape=llm:x"), "../../escape"),
    ("judge-name-with-pipe", lambda c: c.run("eval.judges.a|b=llm:x"), "a|b"),
    ("unknown-judge-kind", lambda c: c.run("eval.judges.x=nosuchkind:y"), "nosuchkind"),
    ("unknown-preset", lambda c: c.run("preset=nosuch"), "nosuch"),
    ("unknown-gym-pool", lambda c: c.run("data.gym_pool=nosuch"), "data.gym_pool"),
    ("unknown-data-source", lambda c: c.run("data.source=csv"), "data.source"),
    ("jsonl-without-path", lambda c: c.run("data.source=jsonl"), "data.path"),
    ("workers-negative", lambda c: c.run("workers=-1"), "workers=-1"),
    ("kwise-k-one", lambda c: c.run("data.kwise_k=1"), "data.kwise_k=1"),
    ("store-is-a-file", lambda c: c.run(f"store={c.file('store-file')}"), "store-file"),
    ("cache-is-a-file", lambda c: c.run(f"cache={c.file('cache-file')}"), "cache-file"),
    ("cache-under-a-file", lambda c: c.run(f"cache={c.file('cache-parent')}/cache"), "cache-parent"),
    ("store-not-writable", _unwritable_store, "store"),
]

DATA: list[Case] = [
    ("prompt-is-a-number", lambda c: c.jsonl(rows=[_pair(prompt=5)]), "train.jsonl:1: prompt"),
    ("score-is-a-string", lambda c: c.jsonl(rows=[
        _kwise(responses=[{"text": "a .", "score": "high"}, {"text": "b .", "score": 0.5}])]),
     "train.jsonl:1: responses[0].score"),
    ("score-not-finite", lambda c: c.jsonl(raw=_lines(_kwise(), _kwise("k2", responses=[
        {"text": "a .", "score": float("nan")}, {"text": "b .", "score": 0.5}]))), "train.jsonl:2"),
    ("response-text-null", lambda c: c.jsonl(rows=[_pair(responses=[{"text": "a ."}, {"text": None}])]),
     "train.jsonl:1: responses[1].text"),
    ("response-text-empty", lambda c: c.jsonl(rows=[_pair(responses=[{"text": "a ."}, {"text": "  "}])]),
     "train.jsonl:1: response 1"),
    ("label-not-plus-minus-one", lambda c: c.jsonl(rows=[_unpaired(), _unpaired("u2", label=2)]),
     ("train.jsonl:2", "label")),
    ("responses-not-a-list", lambda c: c.jsonl(rows=[_pair(responses={"text": "a ."})]),
     "train.jsonl:1: responses"),
    ("unknown-response-key", lambda c: c.jsonl(rows=[
        _kwise(responses=[{"text": "a .", "scroe": 1.0}, {"text": "b .", "score": 0.5}])]), "scroe"),
    ("row-not-an-object", lambda c: c.jsonl(raw=_lines(_pair(), "[1, 2]")), "train.jsonl:2"),
    ("row-missing-kind", lambda c: c.jsonl(rows=[{k: v for k, v in _pair().items() if k != "kind"}]),
     ("train.jsonl", "cannot tell the data format", "id+prompt+kind+responses")),
    ("unknown-kind", lambda c: c.jsonl(rows=[_pair(kind="triples")]), ("train.jsonl:1", "triples")),
    ("pair-with-three-responses", lambda c: c.jsonl(rows=[
        _pair(responses=[{"text": "a ."}, {"text": "b ."}, {"text": "c ."}])]), ("train.jsonl:1", "got 3")),
    ("invalid-json", lambda c: c.jsonl(raw=_lines(_pair("a"), '{"id": "b",')), "train.jsonl:2: not valid JSON"),
    ("not-utf8-on-line-3", lambda c: c.jsonl(raw=(_lines(_pair("a"), _pair("b")).encode()
                                                 + json.dumps(_pair("c")).encode().replace(b"phone", b"caf\xe9")
                                                 + b"\n")), "train.jsonl:3: not UTF-8"),
    ("duplicate-id", lambda c: c.jsonl(raw=_lines(_pair("abc"), _pair("x"), _pair("abc"))),
     ("train.jsonl:3: id 'abc' already used at", "train.jsonl:1")),
    ("empty-file", lambda c: c.jsonl(raw=""), ("train.jsonl", "no rows")),
    ("missing-file", lambda c: c.data_run(c.tmp / "missing.jsonl", c.test_prompts()), "missing.jsonl"),
    ("data-path-is-a-directory", lambda c: c.data_run(c.file("data-dir/x").parent, c.test_prompts()),
     ("data-dir", "is a directory")),
    ("missing-test-file", lambda c: c.data_run(c.file("train.jsonl", _lines(_pair())), c.tmp / "missing-test.jsonl"),
     ("missing-test.jsonl", "data.test")),
    ("validation-not-pairs", lambda c: c.jsonl(f"data.val.path={c.file('val.jsonl', _lines(_kwise()))}",
                                               rows=[_pair()]), "val.jsonl"),
    ("mixed-kinds", lambda c: c.jsonl(rows=[_pair("a"), _kwise("b")]),
     ("train.jsonl:2: kind 'kwise'", "one data kind per dataset")),
    ("kwise-without-scores", lambda c: c.jsonl(rows=[
        _kwise(responses=[{"text": "a ."}, {"text": "b ."}])]), ("train.jsonl:1", "score")),
    ("empty-prompt", lambda c: c.jsonl(rows=[_pair("a"), _pair("b", prompt="  ")]),
     "train.jsonl:2: empty prompt"),
    # TRL-format rows through the hf source, as a researcher's own files arrive
    ("trl-missing-column", lambda c: c.trl([{"prompt": "a ?", "chosen": "yes ."}], "data.format=preference"),
     ("trl.jsonl", "rejected", "data.columns.rejected=COLUMN")),
    ("trl-mixed-formats", lambda c: c.trl([{"prompt": "a ?", "chosen": "yes .", "rejected": "no ."},
                                           {"prompt": "b ?", "completion": "yes .", "label": True}]),
     ("trl.jsonl", "one format per file")),
    ("trl-empty-chosen", lambda c: c.trl([{"prompt": "a ?", "chosen": " ", "rejected": "no ."}]),
     ("trl.jsonl", "chosen")),
    ("implicit-without-final-assistant", lambda c: c.trl([{
        "chosen": [{"role": "user", "content": "a ?"}, {"role": "assistant", "content": "yes ."},
                   {"role": "user", "content": "and ?"}],
        "rejected": [{"role": "user", "content": "a ?"}, {"role": "assistant", "content": "no ."}]}]),
     ("trl.jsonl", "assistant")),
    ("hub-dataset-not-cached", lambda c: c.run("method=dpo", "data.source=hf", "data.path=nobody/no-such-dataset",
                                               f"data.test.path={c.test_prompts()}", f"model.path={c.reference}"),
     ("nobody/no-such-dataset", "not in the local Hugging Face cache")),
]

def _config_only_model(c: Ctx) -> list[str]:
    return c.run("method=dpo", f"model.path={c.model_dir('no-weights-model', keep=lambda p: False)}")


def _pickle_model(c: Ctx) -> list[str]:
    model = c.model_dir("pickle-model", keep=lambda p: not _weights(p),
                        extra={"pytorch_model.bin": b"PK\x03\x04 not really a model"})
    return c.run("method=dpo", f"model.path={model}")


def _custom_type_model(c: Ctx) -> list[str]:
    """Custom code with a model type transformers does not know: nothing but that code could load it."""
    model = c.model_dir("custom-type-model", config={"model_type": "custom_x",
                                                      "auto_map": {"AutoModelForCausalLM": "modeling_x.Custom"}})
    return c.run("method=dpo", f"model.path={model}")


def _unstamped_custom_type_model(c: Ctx) -> list[str]:
    """As :func:`_custom_type_model`, without bench's stamp and manifest: a directory bench did not write,
    whose fingerprint is its bytes (so no finished job matches it and the model would be loaded)."""
    model = c.model_dir("unstamped-custom-model", keep=lambda p: p.name not in (STAMP_FILE, MANIFEST),
                        config={"model_type": "custom_x", "auto_map": {"AutoModelForCausalLM": "modeling_x.Custom"}})
    return c.run("method=dpo", f"model.path={model}")


MODELS: list[Case] = [
    ("model-without-weights", _config_only_model, ("no-weights-model", "weights")),
    ("model-path-missing", lambda c: c.run("method=dpo", "model.path=/does/not/exist"),
     ("/does/not/exist", "does not exist")),
    ("model-with-pickle-weights", _pickle_model, ("pickle-model", "safetensors")),
    ("unstamped-model-of-custom-type", _unstamped_custom_type_model, ("unstamped-custom-model",
                                                                       "model.trust_remote_code")),
    ("model-of-custom-type", _custom_type_model, ("custom-type-model", "model.trust_remote_code")),
]

LEADERBOARD: list[Case] = [
    ("leaderboard-missing-store", lambda c: ["leaderboard", "--store", str(c.tmp / "nowhere")], "nowhere"),
    ("leaderboard-empty-store", lambda c: ["leaderboard", "--store", str(c.file("empty-store/.keep").parent)],
     "empty-store"),
    ("leaderboard-store-is-a-file", lambda c: ["leaderboard", "--store", str(c.file("store-file"))],
     ("store-file", "is a file")),
]

CASES = CONFIG + DATA + MODELS + LEADERBOARD


# --- fixtures and the test -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory: pytest.TempPathFactory, smoke_run, smoke_gym) -> Path:
    """A results store holding a finished smoke run of dpo and simpo, leaderboard included."""
    store = tmp_path_factory.mktemp("finished-store")
    smoke_run(store, "method=dpo,simpo")
    assert any(store.rglob("metrics.json")), "the module's smoke run wrote no finished job"
    return store


@pytest.mark.parametrize(("build", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(build, expected, tmp_path: Path, finished_store: Path,
                                                         smoke_cache: Path, smoke_gym) -> None:
    ctx = Ctx(tmp=tmp_path, store=finished_store, cache=smoke_cache, reference=Path(smoke_gym.reference_dir))
    args = build(ctx)
    before = (snapshot(finished_store), snapshot(tmp_path))

    code, output = run_cli(args)

    problems = []  # every broken promise at once, so a failing case reports all of them
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    if code != 2:
        problems.append(f"exit status {code}, expected 2")
    if "Traceback" in output:
        problems.append("a traceback was printed")
    if len(errors) != 1:
        problems.append(f"{len(errors)} lines start with 'error: ', expected 1")
    problems += [f"{substring!r} not in the error line" for substring in
                 ((expected,) if isinstance(expected, str) else expected) if not any(substring in e for e in errors)]
    for root, earlier in zip((finished_store, tmp_path), before, strict=True):
        later = snapshot(root)
        changed = sorted(key for key in earlier.keys() | later.keys() if earlier.get(key) != later.get(key))
        if changed:
            problems.append(f"{len(changed)} entries changed under {root}: {changed[:6]}")
    assert not problems, "; ".join(problems) + f"\noutput:\n{output}"


def test_the_table_covers_at_least_45_distinct_cases() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) >= 45 and len(set(ids)) == len(ids)

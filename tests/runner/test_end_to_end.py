"""A small end-to-end run on the smoke gym: every job finishes, re-runs reuse everything."""

from __future__ import annotations

import json

import pytest

from bench.config import build_config
from bench.leaderboards.table import aggregate, load_results
from bench.runner.run import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, smoke_run, smoke_gym):
    return smoke_run(tmp_path_factory.mktemp("store"), "method=dpo,simpo,kto,tdpo2", "seed=0,1")


def test_every_job_writes_metrics_with_provenance(first_run):
    _, store, result, _ = first_run
    assert result.jobs == 8 and result.trained == 8
    records = [json.loads(p.read_text()) for p in store.glob("jobs/*/metrics.json")]
    assert sorted(r["job"]["method"] for r in records).count("dpo") == 2
    assert {r["job"]["method"] for r in records} == {"dpo", "simpo", "kto", "tdpo2", "reference"}
    for record in records:
        assert {"gold_win_rate", "proxy_win_rate", "gold_reward", "kl", "length", "distinct_2_across"} \
            <= set(record["metrics"])
        provenance = record["provenance"]
        assert provenance["packages"]["torch"] and provenance["model"] and provenance["dataset"]
    assert len({r["provenance"]["comparability_key"] for r in records}) == 1


def test_one_reference_pass_serves_every_job(first_run):
    _, _, _, lines = first_run
    passes = [line for line in lines if line.startswith("reference pass")]
    assert len(passes) == 2  # pairs (dpo, tdpo2) and unpaired (kto): one pass per tokenised dataset
    assert any("distributions" in line and "responses" in line for line in passes)
    assert any(line.startswith("tdpo2") and "read from the cache" in line for line in lines)


def test_leaderboard_has_every_method_with_seeds_aggregated(first_run):
    _, store, result, _ = first_run
    tables = aggregate(load_results(store))
    (table,) = tables.values()
    rows = table.set_index("method")
    assert set(rows.index) == {"dpo", "simpo", "kto", "tdpo2", "reference"}
    assert rows.loc["dpo", "n_seeds"] == 2
    assert all(path.exists() for path in result.leaderboards)


def test_a_second_run_reuses_everything(first_run):
    config, _, _, _ = first_run
    lines: list[str] = []
    result = run(config, say=lines.append)
    assert result.trained == 0 and result.reused == 8
    assert not any(line.startswith("reference pass") and "computed" in line for line in lines)


def test_reference_free_objectives_never_touch_the_reference_cache(tmp_path, smoke_config, smoke_run_config,
                                                                     smoke_gym):
    config = smoke_run_config(tmp_path, "method=simpo")
    from pathlib import Path

    before = set(Path(smoke_config.cache).glob("refcache/*"))
    lines: list[str] = []
    run(config, say=lines.append)
    assert set(Path(smoke_config.cache).glob("refcache/*")) == before
    assert not any(line.startswith("reference pass") for line in lines)


def test_a_sweep_reports_one_row_with_the_point_chosen_on_validation(tmp_path, smoke_run_config, smoke_gym):
    config = smoke_run_config(tmp_path, "method=dpo", "sweep.dpo.beta=0.1,0.5")
    result = run(config, say=lambda line: None)
    assert result.jobs == 2
    records = [json.loads(p.read_text()) for p in tmp_path.glob("jobs/dpo-*/metrics.json")]
    assert all("gold_win_rate" in r["validation"] and r["job"]["sweep"]["size"] == 2 for r in records)
    (table,) = aggregate(load_results(tmp_path)).values()
    row = table.set_index("method").loc["dpo"]
    chosen = next(r for r in records if row["chosen"] == f"beta={r['job']['sweep']['point']['beta']}")
    assert row["grid"] == 2
    assert chosen["validation"]["gold_win_rate"] == max(r["validation"]["gold_win_rate"] for r in records)
    assert row["gold_win_rate"] == pytest.approx(chosen["metrics"]["gold_win_rate"])



def test_tuning_chooses_lr_and_beta_on_one_seed_then_trains_the_chosen_point_on_the_others(tmp_path, smoke_run_config,
                                                                                          smoke_gym):
    plain = run(smoke_run_config(tmp_path, "method=sft"), say=lambda line: None)  # the same store, untuned
    config = smoke_run_config(tmp_path, "method=dpo,sft", "seed=0,1", "tune=lr,beta", "tuning.lr=1e-3,3e-3",
                              "tuning.strength=1,4", "tuning.select_seeds=1")
    lines: list[str] = []
    result = run(config, say=lines.append)
    # dpo: 4 points at seed 0, the chosen one at seed 1; sft's lr=1e-3 point is not the untuned sft's job
    assert (result.jobs, result.trained) == (4 + 1 + 2 + 1, 8)
    assert any(line.startswith("chosen points at the other seeds: 2 jobs") for line in lines)
    records = [json.loads(p.read_text()) for p in tmp_path.glob("jobs/*/metrics.json")]
    dpo = [r for r in records if r["job"]["method"] == "dpo"]
    label = lambda r: f"beta={r['job']['sweep']['point']['beta']}, lr={r['job']['sweep']['point']['lr']}"  # noqa: E731
    first = sorted((r for r in dpo if r["job"]["seed"] == 0), key=label)
    best = max(first, key=lambda r: r["validation"]["gold_win_rate"])  # ties: the label that sorts first
    (second,) = [r for r in dpo if r["job"]["seed"] == 1]
    assert second["job"]["sweep"]["point"] == best["job"]["sweep"]["point"]
    lrs = {r["job"]["sweep"]["point"]["lr"]: r for r in first if r["job"]["sweep"]["point"]["beta"] == 0.1}
    logged = {lr: json.loads((tmp_path / "jobs" / r["job"]["id"] / "train_log.jsonl").read_text().splitlines()[-1])
              for lr, r in lrs.items()}
    assert logged[3e-3]["lr"] == pytest.approx(3 * logged[1e-3]["lr"])  # each point trained at its own lr

    tables = aggregate(load_results(tmp_path))
    assert set(tables) == {plain.comparability_key, result.comparability_key}  # never mixed in one table
    row = tables[result.comparability_key].set_index("method").loc["dpo"]
    assert (row["chosen"], row["grid"], row["n_seeds"]) == (label(best), 4, 2)
    assert row["gold_win_rate"] == pytest.approx(
        (best["metrics"]["gold_win_rate"] + second["metrics"]["gold_win_rate"]) / 2)
    untuned = tables[plain.comparability_key].set_index("method").loc["sft"]
    assert (untuned["chosen"], untuned["grid"], untuned["n_seeds"]) == ("", 0, 1)

    again = run(config, say=lambda line: None)
    assert (again.jobs, again.trained) == (8, 0)


def test_tdpo_trains_the_same_from_cached_or_in_memory_reference_distributions(tmp_path, smoke_run_config, smoke_gym,
                                                                              monkeypatch):
    import bench.runner.run as runner_module

    def train_log(store, lines):
        config = smoke_run_config(store, "method=tdpo1")
        run(config, say=lines.append)
        (log,) = store.glob("jobs/tdpo1-*/train_log.jsonl")
        return [json.loads(line)["loss"] for line in log.read_text().splitlines()]

    cached_lines: list[str] = []
    cached = train_log(tmp_path / "cached", cached_lines)
    monkeypatch.setattr(runner_module, "DISTRIBUTION_CACHE_LIMIT", 0)
    live_lines: list[str] = []
    live = train_log(tmp_path / "live", live_lines)
    assert any("read from the cache" in line for line in cached_lines)
    assert any("held in memory" in line for line in live_lines)
    assert live == pytest.approx(cached, rel=1e-4)


def test_a_train_only_run_on_jsonl_data_writes_checkpoints_and_no_leaderboard(tmp_path, smoke_config, smoke_gym):
    from bench.data.records import save_jsonl

    save_jsonl(tmp_path / "pairs.jsonl", smoke_gym.dataset("pairs")[:32])
    config = build_config(["data.source=jsonl", f"data.path={tmp_path / 'pairs.jsonl'}",
                           f"model.path={smoke_gym.reference_dir}", "eval.evaluators=[]", "method=dpo,ipo",
                           "train.steps=2", "train.warmup_steps=0", "train.micro_batch_size=8", "progress=false",
                           f"cache={tmp_path / 'cache'}", f"store={tmp_path / 'runs'}"])
    lines: list[str] = []
    result = run(config, say=lines.append)
    assert result.trained == 2 and result.leaderboards == []
    assert len([line for line in lines if line.startswith("reference pass") and "computed" in line]) == 1
    assert len(list((tmp_path / "runs").glob("jobs/*/checkpoint/model.safetensors"))) == 2
    assert not list((tmp_path / "runs").glob("**/leaderboard.md"))
    assert all(json.loads(p.read_text())["metrics"] == {} for p in (tmp_path / "runs").glob("jobs/*/metrics.json"))


def test_jsonl_data_without_test_prompts_must_say_train_only(tmp_path):
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"eval.evaluators=\[\]"):
        build_config(["data.source=jsonl", f"data.path={tmp_path}/p.jsonl", f"model.path={tmp_path}"])

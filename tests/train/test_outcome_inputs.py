"""The trainer's outcome provider: each row gets its prompt's reference samples and the precomputed g."""

from __future__ import annotations

import copy

import pytest
import torch

from bench.data.records import Example, Response
from bench.data.tokenize import collate_rows, tokenize_dataset
from bench.errors import PlanError
from bench.methods.base import Needs
from bench.methods.outcome_stats import OUTCOME_PREDICTIONS, REFERENCE_SAMPLES
from bench.models.loading import load_causal_lm
from bench.train.outcome_inputs import OutcomeInputs
from bench.train.stats import LiveReference, gather_stats

NEEDS = Needs(data="outcomes", reference_samples=True, outcome_model=True, samples_per_prompt=2)


def test_rows_read_their_prompts_samples_with_policy_gradients_and_predictions(smoke_gym, smoke_pairs):
    tokenizer, pairs = smoke_pairs
    model = load_causal_lm(smoke_gym.reference_dir)
    samples = tokenize_dataset([Example(id=f"s{i}", prompt=f"prompt {i}", kind="kwise",
                                        responses=(Response("it is good ."), Response(f"bad {'very ' * i}.")))
                                for i in range(3)], tokenizer, 16, 16, tokenizer_id="test")
    inputs = OutcomeInputs(samples=samples, sample_reference=LiveReference(copy.deepcopy(model)),
                           sample_row=torch.tensor([2, 0, 0, 1]),
                           row_predictions=torch.tensor([[0.1], [0.2], [0.3], [0.4]]),
                           sample_predictions=torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    batch = collate_rows(pairs, torch.tensor([3, 1, 2]))  # rows 3, 1, 2: prompts' sample rows 1, 0, 0
    stats = gather_stats(model, batch, NEEDS, None, outcome_inputs=inputs)
    drawn = stats.extras[REFERENCE_SAMPLES]
    assert drawn.logps.shape == drawn.ref_logps.shape == drawn.lengths.shape == (3, 2)
    assert drawn.logps.requires_grad and not drawn.ref_logps.requires_grad
    torch.testing.assert_close(drawn.logps.detach(), drawn.ref_logps)  # the policy is still the reference
    torch.testing.assert_close(drawn.logps[1], drawn.logps[2])  # rows 1 and 2 share prompt 0's samples
    assert drawn.lengths[0].tolist() == [5, 4]  # sample row 1: "it is good ." and "bad very ." plus EOS
    predictions = stats.extras[OUTCOME_PREDICTIONS]
    assert predictions.rows.view(-1).tolist() == pytest.approx([0.4, 0.2, 0.3])
    assert predictions.samples.tolist() == [[3.0, 4.0], [1.0, 2.0], [1.0, 2.0]]


def test_without_a_provider_the_need_is_named(smoke_gym, smoke_pairs):
    _, pairs = smoke_pairs
    model = load_causal_lm(smoke_gym.reference_dir)
    with pytest.raises(PlanError, match="reference samples or an outcome model"):
        gather_stats(model, collate_rows(pairs, torch.tensor([0])), NEEDS, None)

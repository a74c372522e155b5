"""Log-probabilities of given (prompt, response) texts under a model, for evaluation.

The KL and entropy evaluators need log pi(y|x) and log pi_ref(y|x) of the policy's own samples; this
re-tokenises the samples in the training layout and scores them without gradients.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.data.tokenize import collate, encode_prompts, encode_responses
from bench.models.logprobs import response_scores

SCORE_BATCH_PROMPTS = 64


def sequence_logps(model: torch.nn.Module, tokenizer, prompts: list[str], samples: list[list[str]],
                   max_prompt_tokens: int, max_response_tokens: int) -> np.ndarray:
    """Summed response log-probs [P, k] of ``samples[p][j]`` given ``prompts[p]`` under ``model``."""
    k = len(samples[0])
    prompt_ids = encode_prompts(tokenizer, prompts, max_prompt_tokens)
    flat = encode_responses(tokenizer, [s for group in samples for s in group], max_response_tokens)
    device = next(model.parameters()).device
    out = np.zeros((len(prompts), k))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(prompts), SCORE_BATCH_PROMPTS):
            stop = min(start + SCORE_BATCH_PROMPTS, len(prompts))
            responses = [flat[i * k:(i + 1) * k] for i in range(start, stop)]
            batch = collate(prompt_ids[start:stop], responses, tokenizer.pad_token_id).to(device)
            out[start:stop] = response_scores(model, batch).logps.view(stop - start, k).double().cpu().numpy()
    return out

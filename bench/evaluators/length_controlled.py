"""Length-controlled win rate: the win rate a judge would give if both responses had the same length.

Judges, human and LLM, prefer longer answers, so a policy can raise its raw win rate by rambling.
AlpacaEval 2 (Dubois et al. 2024, "Length-Controlled AlpacaEval") corrects for this with a logistic
GLM of the judge's preference for the model over the baseline, per instruction i,

    logit P(model wins on i) = w_len * tanh(delta_len_i / std(delta_len))
                               + w_inst * instruction_term_i + w_model,

where delta_len = len(baseline) - len(model), fits it, then predicts every pair again with the length
term set to zero and averages: the length-controlled (LC) win rate (METHODS.md, Metrics).

Two ways of fitting it, and every result records which one produced it (``method``):

* ``alpaca_eval_glm``: alpaca_eval's own ``get_length_controlled_winrate`` (GLM ``length_controlled_v1``).
  Its instruction term is a fixed per-instruction difficulty and its length and difficulty weights are
  regularised toward those of two "gamed" (verbose / concise) versions of the baseline; both come from
  ``df_gamed.csv`` on the Hugging Face hub (dataset ``tatsu-lab/alpaca_eval``), which the wheel does not
  ship. It therefore runs only on AlpacaEval's 805 instructions (rows indexed 0..804 in AlpacaEval
  order) and only when that file is already in the local Hugging Face cache; bench never downloads it.
* ``local_glm``: a local fit of the same model form with alpaca_eval's own fitting code
  (``make_dmatrix_for_model`` and ``fit_LogisticRegressionCV``: soft labels by duplicating every pair
  with weights p and 1 - p, L1 penalty, no free intercept, the penalty chosen by 5-fold cross-validation
  with both copies of a pair in the same fold, liblinear, ``random_state=123``), on a design built here.
  It cannot regularise toward gamed baselines (there are none for bench's prompts), so it matches
  alpaca_eval's ``length_controlled_noreg`` form. The instruction term is a known per-prompt difficulty
  when the caller has one (exactly ``length_controlled_noreg``), and otherwise one indicator per prompt:
  bench's prompts have no AlpacaEval difficulty, and under the L1 penalty the indicators only take
  what the shared model term cannot explain.

Like alpaca_eval's, the local fit penalises the model term too, so when the evaluation set is too
small to show an effect the cross-validated penalty shrinks the LC win rate toward 50: with equal
lengths and a quality-only judge, 48 prompts x 4 pairs at a raw 55.2% give an LC of exactly 50.0,
while 256 x 4 (bench's default test split) at a raw 57.9% give 57.6 (measured on synthetic data).

Two things the single number hides are reported with it. Its uncertainty: a 95% interval from a prompt
bootstrap (prompts drawn with replacement, each drawn copy its own prompt term, the GLM refitted at the
penalty the full data's cross-validation chose; refits, not 2,000 draws, so :data:`LC_REFITS` of them).
And its source: the fitted length weight (0 when the judge's preferences carry no length effect, so the
LC equals the raw rate up to the prompt terms) and the policy weight, the model term the LC is made of; a
policy weight of exactly 0 means the penalty removed the policy's own effect, and an LC of 50 then says
"not shown at this sample size", not "no better than the reference".

The local fit needs alpaca_eval (and scikit-learn, patsy), i.e. ``pip install 'bench[eval]'``.
"""

from __future__ import annotations

import importlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator, judge_preferences, judged_pairs
from bench.evaluators.statistics import prompt_mean

ALPACA_EVAL_GLM = "alpaca_eval_glm"
LOCAL_GLM = "local_glm"

ALPACA_EVAL_GLM_NAME = "length_controlled_v1"
"""The GLM alpaca_eval's leaderboard reports (``alpaca_eval.metrics.glm_winrate.GLM_INFO``)."""
ALPACA_EVAL_DATA = ("tatsu-lab/alpaca_eval", "df_gamed.csv")
"""Hub dataset and file holding the instruction difficulties and gamed-baseline annotations that
``length_controlled_v1`` reads."""

LENGTH_TERM = "np.tanh(std_delta_len)"
MODEL_TERM = "policy"
LOCAL_FORMULA_PER_PROMPT = f"{LENGTH_TERM} + C(prompt) + {MODEL_TERM} - 1"
"""Local design without known difficulties: length term, one indicator per prompt, model term."""
LOCAL_FORMULA_DIFFICULTY = f"{LENGTH_TERM} + prompt_difficulty + {MODEL_TERM} - 1"
"""Local design with a known difficulty per prompt: alpaca_eval's ``length_controlled_noreg`` form."""
CV_SPLITS = 5
"""Cross-validation folds for the penalty, as in every alpaca_eval GLM (``GLM_INFO[...]['kwargs']``)."""
PENALTY_DEPRECATION = "Inconsistent values: penalty=l1"
"""scikit-learn's warning about the ``penalty`` argument alpaca_eval's fitter passes: not the caller's to fix."""
LC_REFITS = 200
"""Bootstrap refits behind the LC interval: each is a GLM fit (about 7 ms at 1,024 pairs on a 2-core CPU), fewer than
the win rate's 2,000 redraws: the percentile interval's ends move by up to about half a point between bootstrap
seeds (measured on 1,024 synthetic pairs at an LC of 58)."""
INTERVAL = 0.95


@dataclass(frozen=True)
class LengthControlledResult:
    """An LC win rate (percent) with the raw win rate it corrects and what produced it.

    ``lc_standard_error`` is alpaca_eval's: the standard error of the mean of the predicted
    preferences, which ignores the uncertainty of the fitted weights. ``length_weight`` is the fitted
    weight of the length term (in alpaca_eval's sign convention, negative when the judge favours the
    longer response).
    """

    lc_win_rate: float
    lc_standard_error: float
    win_rate: float
    length_weight: float
    method: str
    formula: str
    n_pairs: int
    policy_weight: float = math.nan
    """The fitted model term: 0 when the penalty shrank the policy's own effect away (then the LC is the prompt
    terms' alone, exactly 50 when they were shrunk too)."""
    ci_low: float = math.nan
    ci_high: float = math.nan
    """The LC's 95% prompt-bootstrap interval (NaN when no refits were asked for)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _glm_module() -> Any:
    """alpaca_eval's GLM module, imported on first use so bench runs without the ``eval`` extra."""
    try:
        return importlib.import_module("alpaca_eval.metrics.glm_winrate")
    except ImportError as exc:
        raise BenchError(f"the length-controlled win rate needs alpaca_eval ({exc}); install it with "
                         f"pip install 'bench[eval]'") from exc


def alpaca_eval_glm_available() -> bool:
    """Whether alpaca_eval's ``length_controlled_v1`` GLM can run here without a download.

    True only when alpaca_eval imports and its ``df_gamed.csv`` is already in the Hugging Face cache
    (the hub is never contacted: bench must run offline).
    """
    try:
        _glm_module()
        from huggingface_hub import try_to_load_from_cache
    except (BenchError, ImportError):
        return False
    cached = try_to_load_from_cache(ALPACA_EVAL_DATA[0], ALPACA_EVAL_DATA[1], repo_type="dataset")
    return isinstance(cached, str)


def _as_vector(values: Sequence[float] | np.ndarray, what: str, size: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size != size:
        raise BenchError(f"{what} has {array.size} entries for {size} preferences; give one per pair")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise BenchError(f"{what}[{bad}] is {array[bad]}; every pair needs a finite value")
    return array


def _standardised_length_difference(reference_lengths: np.ndarray, policy_lengths: np.ndarray) -> np.ndarray:
    """(len(reference) - len(policy)) / its standard deviation, as alpaca_eval featurises it.

    alpaca_eval divides the raw difference by its sample standard deviation (ddof=1, pandas' ``std``);
    when every pair differs by the same amount that is x/0, so the length term is set to zero instead
    (it carries no information then; alpaca_eval would produce NaN features).
    """
    delta = reference_lengths - policy_lengths
    spread = float(np.std(delta, ddof=1)) if delta.size > 1 else 0.0
    return delta / spread if spread > 0 else np.zeros_like(delta)


def length_controlled_win_rate(preferences: Sequence[float] | np.ndarray,
                               policy_lengths: Sequence[float] | np.ndarray,
                               reference_lengths: Sequence[float] | np.ndarray,
                               prompt_ids: Sequence[Any] | np.ndarray,
                               prompt_difficulty: Sequence[float] | np.ndarray | None = None,
                               refits: int = 0, seed: int = 0) -> LengthControlledResult:
    """LC win rate of a policy over a reference from per-pair preferences, by the local GLM fit.

    ``preferences[n]`` is P(policy preferred) in [0, 1] for pair n (0.5 a tie); the lengths are in any
    one unit (the standardisation removes it); ``prompt_ids[n]`` names the pair's prompt, so several
    sample pairs of one prompt share its prompt term. ``prompt_difficulty`` (one value per pair,
    constant within a prompt) replaces the per-prompt indicators by alpaca_eval's difficulty covariate.
    Prompts weigh equally in both the raw and the LC average, as in bench's win rate. ``refits`` > 0 adds
    the prompt-bootstrap interval (per-prompt indicators only; ``seed`` fixes the draws). See the module
    docstring for the model, its regularisation, and how it relates to alpaca_eval's GLM.
    """
    prefs = np.asarray(preferences, dtype=np.float64).ravel()
    n_pairs = prefs.size
    if n_pairs < CV_SPLITS:
        raise BenchError(f"the length-controlled GLM needs at least {CV_SPLITS} preference pairs (its "
                         f"penalty is cross-validated over {CV_SPLITS} folds); got {n_pairs}")
    if not np.isfinite(prefs).all() or prefs.min() < 0.0 or prefs.max() > 1.0:
        raise BenchError("preferences must be finite and lie in [0, 1] (1 policy wins, 0.5 tie, 0 loss); "
                         "check the judge's output")
    policy = _as_vector(policy_lengths, "policy_lengths", n_pairs)
    reference = _as_vector(reference_lengths, "reference_lengths", n_pairs)
    prompt_ids = np.asarray(prompt_ids, dtype=object).ravel()
    if prompt_ids.size != n_pairs:
        raise BenchError(f"prompt_ids has {prompt_ids.size} entries for {n_pairs} preferences; give one per pair")
    codes, _ = pd.factorize(pd.Series(prompt_ids), sort=False)

    frame = pd.DataFrame({"preference": prefs, "prompt": codes, "policy": 1.0,
                          "std_delta_len": _standardised_length_difference(reference, policy)})
    if prompt_difficulty is None:
        formula = LOCAL_FORMULA_PER_PROMPT
    else:
        frame["prompt_difficulty"] = _as_vector(prompt_difficulty, "prompt_difficulty", n_pairs)
        formula = LOCAL_FORMULA_DIFFICULTY
    weights, predicted, penalty = _fit_and_predict_without_length(frame, formula)
    low = high = math.nan
    if refits:
        if prompt_difficulty is not None:
            raise BenchError("the LC interval refits the per-prompt design; call without prompt_difficulty")
        draws = _bootstrap_lc(prefs, reference - policy, codes, penalty, refits, seed)
        low, high = (float(q) for q in np.percentile(draws, [50 * (1 - INTERVAL), 50 * (1 + INTERVAL)]))
    return LengthControlledResult(
        lc_win_rate=_prompt_weighted_percent(predicted, codes),
        lc_standard_error=100.0 * float(pd.Series(predicted).sem()),
        win_rate=_prompt_weighted_percent(prefs, codes),
        length_weight=float(weights[LENGTH_TERM]), method=LOCAL_GLM, formula=formula, n_pairs=n_pairs,
        policy_weight=float(weights[MODEL_TERM]), ci_low=low, ci_high=high)


def _prompt_weighted_percent(values: np.ndarray, codes: np.ndarray) -> float:
    """The mean of per-prompt means of ``values`` (one per pair, prompt ``codes``), in percent."""
    order = np.argsort(codes, kind="stable")
    return 100.0 * float(prompt_mean(values[order], np.bincount(codes)).mean())


def _bootstrap_lc(preferences: np.ndarray, length_gaps: np.ndarray, codes: np.ndarray, penalty: float,
                  refits: int, seed: int) -> np.ndarray:
    """LC win rates of ``refits`` prompt-bootstrap samples, each refitted at ``penalty`` (alpaca_eval's fitter
    without cross-validation) on the per-prompt design, built directly rather than through patsy: a length
    column, one indicator per drawn prompt copy, the policy column."""
    glm = _glm_module()
    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(codes == code) for code in range(int(codes.max()) + 1)]
    draws = np.empty(refits)
    with sklearn.config_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", PENALTY_DEPRECATION, UserWarning)
        for b in range(refits):
            drawn = rng.integers(len(members), size=len(members))
            rows = np.concatenate([members[p] for p in drawn])
            copies = np.repeat(np.arange(len(drawn)), [members[p].size for p in drawn])
            gaps = length_gaps[rows]
            spread = float(np.std(gaps, ddof=1)) if gaps.size > 1 else 0.0
            design = np.zeros((rows.size, len(drawn) + 2))
            design[:, 0] = np.tanh(gaps / spread) if spread > 0 else 0.0
            design[np.arange(rows.size), 1 + copies] = 1.0
            design[:, -1] = 1.0
            columns = ["length", *(f"prompt{i}" for i in range(len(drawn))), "policy"]
            train = pd.DataFrame(design, columns=columns).assign(preference=preferences[rows])
            model = glm.fit_LogisticRegressionCV(train, "preference", is_ytrue_proba=True, n_splits=0, C=penalty)
            design[:, 0] = 0.0
            predicted = model.predict_proba(pd.DataFrame(design, columns=columns))[:, 1]
            draws[b] = _prompt_weighted_percent(predicted, copies)
    return draws


def _fit_and_predict_without_length(frame: pd.DataFrame, formula: str) -> tuple[dict[str, float], np.ndarray, float]:
    """Fit the GLM with alpaca_eval's fitter; (its weights, P(policy wins) predicted for every pair at zero length
    gap, the penalty C its cross-validation chose)."""
    glm = _glm_module()
    import sklearn
    from sklearn.exceptions import ConvergenceWarning

    test = frame.drop(columns=["preference"]).assign(std_delta_len=0.0)
    with sklearn.config_context(), warnings.catch_warnings():
        # fit_LogisticRegressionCV switches on sklearn's metadata routing globally; the context restores
        # it. Its sklearn-version FutureWarnings (``penalty``, ``l1_ratios``) are not the caller's to fix, nor
        # are the convergence warnings of the liblinear fits its cross-validation runs (it sets the solver's
        # iteration cap itself); they would otherwise print once per checkpoint in every run's log.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        train, design = glm.make_dmatrix_for_model(frame, test, formula=formula)
        model = glm.fit_LogisticRegressionCV(train, "preference", is_ytrue_proba=True, n_splits=CV_SPLITS)
        predicted = model.predict_proba(design)[:, 1]
    return (dict(zip(design.columns, model.coef_[0], strict=True)), np.asarray(predicted, dtype=np.float64),
            float(model.C_[0]))


def length_controlled_from_annotations(annotations: pd.DataFrame, use_alpaca_eval: bool | None = None
                                       ) -> LengthControlledResult:
    """LC win rate of alpaca_eval-format annotations (``preference`` in [1, 2], 2 = ``output_2`` wins).

    ``output_1`` is the baseline and ``output_2`` the model, lengths in characters, as alpaca_eval
    measures them. ``use_alpaca_eval=None`` runs alpaca_eval's ``length_controlled_v1`` when it can
    (:func:`alpaca_eval_glm_available`; the rows must then be AlpacaEval's instructions in order) and
    the local fit otherwise, with one indicator per instruction; the result says which ran.
    """
    missing = {"preference", "output_1", "output_2"} - set(annotations.columns)
    if missing:
        raise BenchError(f"annotations lack the column(s) {sorted(missing)}; they must be in alpaca_eval's "
                         f"format (instruction, output_1, output_2, preference, generator_1, generator_2)")
    available = alpaca_eval_glm_available()
    if use_alpaca_eval and not available:
        raise BenchError(f"alpaca_eval's {ALPACA_EVAL_GLM_NAME} GLM cannot run offline here: "
                         f"{ALPACA_EVAL_DATA[1]} of the hub dataset {ALPACA_EVAL_DATA[0]} is not in the Hugging "
                         f"Face cache; download it once, or pass use_alpaca_eval=None for the local fit")
    if available if use_alpaca_eval is None else use_alpaca_eval:
        return _alpaca_eval_length_controlled(annotations)
    preference = annotations["preference"].astype(float).replace({0.0: 1.5}) - 1.0  # alpaca_eval's draw code
    rated = preference.notna().to_numpy()
    rows = annotations[rated]
    return length_controlled_win_rate(preference[rated].to_numpy(), rows["output_2"].str.len().to_numpy(),
                                      rows["output_1"].str.len().to_numpy(), np.flatnonzero(rated))


def _alpaca_eval_length_controlled(annotations: pd.DataFrame) -> LengthControlledResult:
    glm = _glm_module()
    import sklearn
    from huggingface_hub import constants as hub_constants

    offline = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = True  # read df_gamed.csv from the cache; never ask the hub for a newer one
    try:
        with sklearn.config_context(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            # save_weights_dir=None: by default alpaca_eval writes fitted weights into its own install folder
            metrics = glm.get_length_controlled_winrate(annotations.copy(), glm_name=ALPACA_EVAL_GLM_NAME,
                                                        save_weights_dir=None, is_add_glm_preference_inplace=False)
    finally:
        hub_constants.HF_HUB_OFFLINE = offline
    return LengthControlledResult(
        lc_win_rate=float(metrics["length_controlled_winrate"]),
        lc_standard_error=float(metrics["lc_standard_error"]), win_rate=float(metrics["win_rate"]),
        length_weight=math.nan, method=ALPACA_EVAL_GLM, formula=glm.GLM_INFO[ALPACA_EVAL_GLM_NAME]["formula"],
        n_pairs=int(metrics["n_total"]))


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@register_evaluator("lc_win_rate")
@dataclass
class LengthControlledWinRate(Evaluator):
    """Per judge that can reward length: the length-controlled win rate of the policy's samples over the
    reference's, with its interval and where it came from.

    Pairs are formed as in ``win_rate`` (the j-th policy sample against the j-th reference sample, up
    to the smaller count of a prompt); lengths are whitespace tokens. Always the local GLM: alpaca_eval's
    own needs AlpacaEval's per-instruction data, which bench's prompts do not have. Emits, per judge,
    ``{judge}_lc_win_rate`` (percent) with ``_ci_low``/``_ci_high``, ``{judge}_lc_length_weight`` and
    ``{judge}_lc_policy_weight`` (module docstring); the identity's ``lc_method`` says how it was fitted.

    A judge in ``length_blind`` gets none: its verdicts ignore length by construction (the gym's gold reward),
    so a fit of a length term can only misattribute a gain that came with longer responses to length.
    """

    length_blind: tuple[str, ...] = ()
    """Judges whose verdicts cannot reward length (the run's world names them: the gym's ``gold``)."""
    refits: int = LC_REFITS

    version: ClassVar[str] = "2"
    needs_judges: ClassVar[bool] = True

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "lc_method": LOCAL_GLM, "formula": LOCAL_FORMULA_PER_PROMPT,
                "length_unit": "whitespace tokens", "alpaca_eval": _package_version("alpaca_eval"),
                "scikit-learn": _package_version("scikit-learn")}

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        prompts, policy, reference, counts = judged_pairs(inputs, self.name)
        judges = {name: judge for name, judge in inputs.judges.items() if name not in self.length_blind}
        prompt_ids = np.repeat(np.arange(len(inputs.prompts)), counts)
        policy_lengths = np.array([len(text.split()) for text in policy], dtype=np.float64)
        reference_lengths = np.array([len(text.split()) for text in reference], dtype=np.float64)
        metrics: dict[str, float] = {}
        for judge_name, judge in judges.items():
            prefs = judge_preferences(judge_name, judge, prompts, policy, reference)
            result = length_controlled_win_rate(prefs, policy_lengths, reference_lengths, prompt_ids,
                                                refits=self.refits)
            metrics.update({f"{judge_name}_lc_win_rate": result.lc_win_rate,
                            f"{judge_name}_lc_win_rate_ci_low": result.ci_low,
                            f"{judge_name}_lc_win_rate_ci_high": result.ci_high,
                            f"{judge_name}_lc_length_weight": result.length_weight,
                            f"{judge_name}_lc_policy_weight": result.policy_weight})
        return metrics

"""Tests for training/: every stage runs a few steps on the `micro` preset and writes a checkpoint
that `Auto*` classes load; process labels have one entry per step; the pipeline resumes after kill -9.

The fast tests share one micro SFT checkpoint (module fixture); the full-pipeline runs are `slow`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training import checkpoint as ckpt
from training import pipeline as pl
from training.config import preset
from training.data import from_math_shepherd, from_prm800k, load_stepwise, mix_problems, sft_dataset, stepwise_row
from training.tokenizer import build_tokenizer

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(2)


@pytest.fixture(scope="module")
def cfg():
    return preset("micro")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, cfg):
    out = tmp_path_factory.mktemp("micro")
    pl.run_sft(cfg, out / "sft")
    return out


def test_tokenizer_roundtrip_and_autoload(tmp_path):
    tok = build_tokenizer()
    text = "Question: Compute left to right: 17 + 25\nAnswer:\n17 + 25 = 42\nThe answer is 42"
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text) and tok.decode(ids) == text
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text)["input_ids"] == ids and again.eos_token == "<eos>" and again.pad_token == "<pad>"


def test_sft_dataset_is_prompt_completion():
    ds = sft_dataset(mix_problems(preset("tiny").mix, "train", 3))
    row = ds[0]
    assert row["prompt"].startswith("Question: Compute left to right:") and row["prompt"].endswith("Answer:\n")
    assert row["completion"].split("\n")[-1] == f"The answer is {row['reference']}"


def test_stepwise_formats():
    shep = from_math_shepherd({
        "input": "What is 1+1? Step 1: 1+1=2 ки\nStep 2: The answer is 2 ки",
        "label": "What is 1+1? Step 1: 1+1=2 +\nStep 2: The answer is 2 -"})
    assert shep["prompt"] == "What is 1+1?" and shep["completions"] == ["1+1=2", "The answer is 2"]
    assert shep["labels"] == [True, False]
    prm800k = from_prm800k({"question": {"problem": "p", "ground_truth_answer": "2"}, "label": {"steps": [
        {"completions": [{"text": "a", "rating": 1}], "chosen_completion": 0},
        {"completions": [{"text": "b", "rating": -1}, {"text": "c", "rating": 1}], "chosen_completion": None}]}})
    assert prm800k["completions"] == ["a", "b"] and prm800k["labels"] == [True, False]
    with pytest.raises(ValueError):
        stepwise_row("p", ["a"], [True, False])


def test_load_stepwise_autodetects(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"prompt": "p", "completions": ["a", "b"], "labels": [True, False]}) + "\n")
    ds = load_stepwise(path)
    assert ds[0]["labels"] == [True, False] and ds[0]["soft_labels"] == [1.0, 0.0]
    with pytest.raises(ValueError, match="valid formats"):
        path.write_text(json.dumps({"foo": 1}) + "\n")
        load_stepwise(path)


def _assert_clean_checkpoint(path: Path, kind: str):
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "meta.json", "tokenizer.json"} <= names
    assert "training_args.bin" not in names and not any(p.is_dir() for p in path.iterdir())
    meta = json.loads((path / "meta.json").read_text())
    assert meta["kind"] == kind and "git_commit" in meta and "config" in meta
    settings = ckpt.STEPWISE.get(kind, {"kind": kind})  # with what it was trained on, for the CLI's notice
    recorded = {"tasks": ["arith"], "levels": {"arith": [1, 2, 3, 4]}}
    assert json.loads((path / "stepwise.json").read_text()) == settings | recorded


def test_sft_checkpoint_loads(run_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    _assert_clean_checkpoint(run_dir / "sft", "generator")
    model = AutoModelForCausalLM.from_pretrained(run_dir / "sft")
    tok = AutoTokenizer.from_pretrained(run_dir / "sft")
    out = model.generate(**tok(["Question: 1 + 2\nAnswer:\n"], return_tensors="pt"), max_new_tokens=5,
                         do_sample=False)
    assert out.shape[1] <= 26 + 5
    assert 0.0 <= ckpt.read_meta(run_dir / "sft")["metrics"]["val_greedy_acc"] <= 1.0


def test_a_run_the_wall_clock_stops_has_annealed_to_zero(cfg, tmp_path):
    """A cosine cut by the time cap, not by its steps, must still end at a learning rate near zero."""
    from training.sft import build_generator, train_sft

    model, tok = build_generator(cfg.model)
    data = sft_dataset(mix_problems(cfg.mix, "train", 4000, seed=3))
    tc = dataclasses.replace(cfg.sft, max_steps=100_000, batch_size=4, learning_rate=1e-3, max_wall_s=3.0)
    stats = train_sft(model, tok, data, tc, str(tmp_path))
    assert 0 < stats["steps"] < 10_000  # stopped by the clock, long before its steps
    assert stats["final_learning_rate"] <= 1e-3 * 0.02


def test_the_wall_clock_schedule_is_the_step_cosine_when_time_is_plenty():
    from transformers import get_cosine_schedule_with_warmup

    from training.sft import WallClock

    clock = WallClock(seconds=1e9)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=10, num_training_steps=100)
    for step in range(100):
        assert clock.factor(step, 10, 100) == pytest.approx(reference.lr_lambdas[0](step), abs=1e-6)
    clock.started -= 0.55e9  # 55% of the time gone at step 10: half-way down the cosine after a 10% warmup
    assert clock.factor(10, 10, 100) == pytest.approx(0.5, abs=1e-6)
    clock.started -= 0.45e9  # the clock has run out at step 10: the rate is zero, warmup or not
    assert clock.factor(10, 50, 100) == pytest.approx(0.0, abs=1e-6)


def test_star_round(run_dir, cfg):
    metrics = pl.run_star(cfg, run_dir / "sft", run_dir / "star")
    assert [r["round"] for r in metrics["rounds"]] == [0, 1]
    round1 = metrics["rounds"][1]
    assert round1["trained_on"] == round1["train_rows"] + cfg.star.replay_rows
    # the micro paired set is the validation set of the rounds' figures: parent, then the trained model
    paired = metrics["paired_vs_parent"]
    assert paired["problems"] == cfg.paired_problems == cfg.eval_problems
    assert (paired["before"], paired["after"]) == (metrics["rounds"][0]["val_greedy_acc"], metrics["val_greedy_acc"])
    _assert_clean_checkpoint(run_dir / "star", "generator")


def test_star_control_trains_on_the_replayed_rows_alone(monkeypatch):
    """The ablation's control arm never samples and trains on exactly the replayed SFT rows."""
    from datasets import Dataset

    from training import star
    trained = []
    monkeypatch.setattr(star, "sample_chains", lambda *a, **k: pytest.fail("the control must not sample"))
    monkeypatch.setattr(star, "train_sft", lambda model, tok, data, tc, work: trained.append(data) or {})
    replay = Dataset.from_list([{"prompt": f"Question: {i} + 1\nAnswer:\n", "completion": f"{i} + 1 = {i + 1}",
                                 "problem": f"{i} + 1", "reference": str(i + 1)} for i in range(5)])
    cfg = dataclasses.replace(preset("micro").star, self_chains=False)
    stats = star.star_round(None, None, ["1 + 1"], ["2"], cfg, seed=0, work_dir="", replay=replay)
    assert stats["trained_on"] == 5 and sorted(trained[0]["prompt"]) == sorted(replay["prompt"])


def test_star_ablation_reports_both_arms(run_dir, monkeypatch):
    """experiments/star_ablation.py: the STaR arm and its replay-only control, each round, plus test accuracy."""
    from experiments import star_ablation
    out = run_dir / "ablation"
    monkeypatch.setattr(sys, "argv", ["star_ablation.py", "--parent", str(run_dir / "sft"), "--preset", "micro",
                                      "--test", "4", "--out", str(out)])
    star_ablation.main()
    result = json.loads((out / "star_ablation.json").read_text())
    assert set(result["test_greedy_acc"]) == {"parent (round 0)", *star_ablation.ARMS}
    control = [r for r in result["rounds"] if r["arm"] == "replay only (control)"]
    assert [r["round"] for r in control] == [0, 1] and control[1]["kept_chains"] == 0
    assert control[1]["trained_on"] == preset("micro").star.replay_rows


def test_star_keeps_only_chains_the_verifier_passes_step_by_step(monkeypatch):
    """A right answer reached through wrong steps ("3 + 6 = 8" ... right total) is refused."""
    from reasoning_core.rewards import TaskOracle
    from training import star
    from training.sampling import Chain
    problem = "Compute left to right: 3 + 6 + 6"
    lucky = Chain(problem, ["3 + 6 = 8", "8 + 6 = 15", "The answer is 15"], True)
    sound = Chain(problem, ["3 + 6 = 9", "9 + 6 = 15", "The answer is 15"], True)
    wrong = Chain(problem, ["3 + 6 = 9", "9 + 6 = 14", "The answer is 14"], True)
    monkeypatch.setattr(star, "sample_chains", lambda *a, **k: [[lucky, sound, wrong]])
    cfg = preset("micro").star
    rows, stats = star.collect(None, None, [problem], ["15"], cfg, seed=0)
    assert len(rows) == 2 and stats["refused_by_verifier"] == 0
    rows, stats = star.collect(None, None, [problem], ["15"], cfg, seed=0, verifier=TaskOracle())
    assert [r["completion"].split("\n")[0] for r in rows] == ["3 + 6 = 9"] and stats["refused_by_verifier"] == 1


def test_labels_have_one_per_step(run_dir, cfg):
    metrics = pl.run_label(cfg, run_dir / "sft", run_dir / "labels")
    for name in ("math_shepherd", "omega_prm"):
        ds = load_stepwise(run_dir / "labels" / f"{name}.jsonl")
        assert len(ds) == metrics["chains"] > 0
        for row in ds:
            assert len(row["labels"]) == len(row["completions"]) == len(row["soft_labels"])
        assert 0.0 <= metrics[name]["step_agreement"] <= 1.0


def test_prm_and_orm_load(run_dir, cfg):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification
    if not ckpt.is_complete(run_dir / "labels"):
        pl.run_label(cfg, run_dir / "sft", run_dir / "labels")
    pl.run_prm(cfg, run_dir / "sft", run_dir / "labels", run_dir / "prm")
    cache = pl.heldout_cache(run_dir / "orm", run_dir / "sft", cfg.orm.eval_problems, cfg.seed)
    assert cache.is_file()  # the PRM stage's held-out sample, which the ORM stage reads instead of resampling
    sampled = pl._heldout_chains(cfg, run_dir / "sft", cfg.orm.eval_problems)
    assert pl._heldout_chains(cfg, run_dir / "sft", cfg.orm.eval_problems, cache) == sampled
    pl.run_orm(cfg, run_dir / "sft", run_dir / "labels", run_dir / "orm")
    _assert_clean_checkpoint(run_dir / "prm", "prm")
    _assert_clean_checkpoint(run_dir / "orm", "orm")
    assert AutoModelForTokenClassification.from_pretrained(run_dir / "prm").config.num_labels == 2
    assert AutoModelForSequenceClassification.from_pretrained(run_dir / "orm").config.num_labels == 2


def test_an_orm_trained_as_cobbe_did_keeps_its_best_judged_checkpoint(run_dir, cfg):
    """Sampled chains, labelled by their answers; the checkpoint kept is the one whose within-problem AUC on
    the held-back problems was highest (the micro generator's chains are mostly wrong: the curve may hold
    None where no held-back problem had both outcomes)."""
    sampled = dataclasses.replace(cfg, orm=dataclasses.replace(cfg.orm, samples=4, problems=20, select_every=2))
    metrics = pl.run_orm(sampled, run_dir / "sft", None, run_dir / "orm-sampled")
    _assert_clean_checkpoint(run_dir / "orm-sampled", "orm")
    assert metrics["recipe"].startswith("sampled: 4 chains per problem")
    assert [step for step, _ in metrics["selection_curve"]] == [2, 4]
    judged = [(score, step) for step, score in metrics["selection_curve"] if score is not None]
    assert metrics["selected_step"] == (max(judged)[1] if judged else 0)
    assert metrics["train_chains"] + metrics["selection_chains"] <= 4 * 20


def test_keep_best_puts_the_best_judged_weights_back():
    import torch

    from training.prm import KeepBest

    model = torch.nn.Linear(1, 1, bias=False)
    scores = iter([0.5, 0.9, None, 0.7])
    keep = KeepBest(1, lambda m: next(scores))
    for step in range(1, 5):
        with torch.no_grad():
            model.weight.fill_(step)
        keep.on_step_end(None, type("S", (), {"global_step": step, "max_steps": 4})(), None, model=model)
    keep.on_train_end(None, None, None, model=model)
    assert (keep.best_step, model.weight.item()) == (2, 2.0)
    assert keep.history == [(1, 0.5), (2, 0.9), (3, None), (4, 0.7)]


def test_a_reward_model_trained_twice_from_one_seed_is_the_same_model(run_dir, cfg):
    """The new head is drawn from the stage's seed, not from whatever the process ran before: a pipeline
    resumed at the PRM or ORM stage trains the model an uninterrupted run trains."""
    import tempfile

    import torch

    from reasoning_core.checkpoints import load_tokenizer
    from training.prm import train_orm, train_prm
    if not ckpt.is_complete(run_dir / "labels"):
        pl.run_label(cfg, run_dir / "sft", run_dir / "labels")
    tok = load_tokenizer(run_dir / "sft")
    rows = pl._label_rows(run_dir / "labels", cfg.prm.label_source)
    outcome_rows = [{**r, "correct": i % 2 == 0} for i, r in enumerate(rows.to_list())]
    for train, data, rc in ((train_prm, rows, cfg.prm), (train_orm, outcome_rows, cfg.orm)):
        weights = []
        for burn in (0, 7):
            torch.rand(burn)  # another history of the global generator before the stage
            with tempfile.TemporaryDirectory() as work:
                model, _ = train(str(run_dir / "sft"), tok, data, rc, work)
            weights.append(model.state_dict())
        assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0]), train.__name__


def test_the_implicit_prm_stage_writes_a_folder_the_core_scores_alone(run_dir, cfg):
    from reasoning_core.checkpoints import read_stepwise_json
    from reasoning_core.rewards import ImplicitPRM
    from reasoning_core.rewards import load as load_reward
    from reasoning_core.rewards.implicit import REFERENCE_FILE
    if not ckpt.is_complete(run_dir / "labels"):
        pl.run_label(cfg, run_dir / "sft", run_dir / "labels")
    implicit = dataclasses.replace(cfg, prm=dataclasses.replace(cfg.prm, format="implicit", beta=0.2))
    metrics = pl.run_prm(implicit, run_dir / "sft", run_dir / "labels", run_dir / "prm-implicit")
    folder = run_dir / "prm-implicit"
    assert metrics["heldout_steps"] > 0 and 0.0 <= metrics["gold_vs_one_result_changed"] <= 1.0
    assert read_stepwise_json(folder)["kind"] == "implicit" and read_stepwise_json(folder)["beta"] == 0.2
    assert (folder / REFERENCE_FILE).is_file()
    prm = load_reward(str(folder), device="cpu")
    assert isinstance(prm, ImplicitPRM) and prm.format.beta == 0.2
    parent = pl.load_generator(run_dir / "sft")[0].state_dict()
    reference = prm.reference.state_dict()
    assert all(torch.equal(parent[k], reference[k]) for k in parent)  # the reference is the parent, frozen
    [scores] = prm.score("Compute left to right: 1 + 2", [["1 + 2 = 3", "The answer is 3"]])
    assert len(scores) == 2 and all(0.0 < s < 1.0 for s in scores)


def test_an_implicit_prm_learns_to_score_a_labelled_wrong_step_below_the_right_one(run_dir, cfg):
    import tempfile

    from datasets import Dataset

    from reasoning_core.checkpoints import load_tokenizer
    from reasoning_core.rewards import ImplicitPRM
    from training.prm import train_implicit_prm
    problem = "Compute left to right: 4 + 7 - 2"
    right, wrong = ["4 + 7 = 11", "11 - 2 = 9", "The answer is 9"], ["4 + 7 = 12", "12 - 2 = 10", "The answer is 10"]
    rows = Dataset.from_list([stepwise_row(problem, right, [True] * 3), stepwise_row(problem, wrong, [False] * 3)])
    tok = load_tokenizer(run_dir / "sft")
    fit = dataclasses.replace(cfg.prm, format="implicit", max_steps=30, batch_size=2, learning_rate=3e-3)
    with tempfile.TemporaryDirectory() as work:
        model, ref, _ = train_implicit_prm(str(run_dir / "sft"), tok, rows, fit, work)
    prm = ImplicitPRM.from_models(model, ref, tok, task="steps", beta=fit.beta)
    before = ImplicitPRM.from_models(ref, ref, tok, task="steps").score(problem, [right, wrong])
    good, bad = prm.score(problem, [right, wrong])
    assert all(x == pytest.approx(0.5) for x in before[0] + before[1])  # untrained: the model is its reference
    assert min(good) > 0.5 > max(bad), (good, bad)


def test_the_prm_study_saves_the_arms_the_core_can_load(run_dir, cfg, monkeypatch):
    """experiments/prm_data.py --save: a token-classification and an implicit arm, each loaded by the core."""
    from experiments import prm_data
    from reasoning_core.rewards import ImplicitPRM, TokenClassificationPRM
    from reasoning_core.rewards import load as load_reward
    if not ckpt.is_complete(run_dir / "labels"):
        pl.run_label(cfg, run_dir / "sft", run_dir / "labels")
    out, saved = run_dir / "prm-study", run_dir / "prm-study-models"
    monkeypatch.setattr(sys, "argv", ["prm_data.py", "--parent", str(run_dir / "sft"), "--labels",
                                      str(run_dir / "labels"), "--preset", "micro", "--arms", "mc,mc+pairs@implicit",
                                      "--pairs", "4", "--steps", "2", "--out", str(out), "--save", str(saved)])
    prm_data.main()
    result = json.loads((out / "prm_data.json").read_text())
    assert set(result) == {"mc", "mc+pairs@implicit"} and result["mc"]["command"].startswith("python -m experiments")
    assert isinstance(load_reward(str(saved / "mc"), device="cpu"), TokenClassificationPRM)
    implicit = load_reward(str(saved / "mc+pairs-implicit"), device="cpu")
    assert isinstance(implicit, ImplicitPRM) and implicit.format.beta == cfg.prm.beta


def test_verifier_stage_scores_steps_through_the_core_loader(run_dir, cfg):
    from reasoning_core.rewards import AgreementVerifier
    from reasoning_core.rewards import load as load_reward
    metrics = pl.run_verifier(cfg, run_dir / "sft", run_dir / "verifier")
    _assert_clean_checkpoint(run_dir / "verifier", "verifier")
    assert metrics["heldout_steps"] > 0 and 0.0 <= metrics["val_greedy_acc"] <= 1.0
    verifier = load_reward(str(run_dir / "verifier"), device="cpu")
    assert isinstance(verifier, AgreementVerifier)
    [scores] = verifier.score("Compute left to right: 1 + 2", [["1 + 2 = 3", "The answer is 3"]])
    assert len(scores) == 2 and scores[1] <= scores[0] <= 1.0


@pytest.mark.parametrize("reward", ["correct", "prm", "process"])
def test_grpo_runs(run_dir, cfg, reward):
    if reward == "prm" and not ckpt.is_complete(run_dir / "prm"):
        test_prm_and_orm_load(run_dir, cfg)
    if reward == "process" and not ckpt.is_complete(run_dir / "verifier"):
        pl.run_verifier(cfg, run_dir / "sft", run_dir / "verifier")
    step_model = {"prm": run_dir / "prm", "process": run_dir / "verifier"}.get(reward)
    grpo_cfg = dataclasses.replace(cfg, grpo=dataclasses.replace(cfg.grpo, reward=reward))
    metrics = pl.run_grpo(grpo_cfg, run_dir / "sft", run_dir / f"grpo-{reward}", prm=step_model)
    assert metrics["reward"] == reward
    paired = metrics["paired_vs_parent"]
    assert (paired["before"], paired["after"]) == (metrics["val_greedy_acc_before"], metrics["val_greedy_acc"])
    assert 0.0 <= metrics["val_sampled_acc_before"] <= 1.0 and 0.0 <= metrics["val_sampled_acc"] <= 1.0
    _assert_clean_checkpoint(run_dir / f"grpo-{reward}", "generator")


def test_grpo_sweep_reports_each_run(run_dir, monkeypatch):
    from experiments import grpo_sweep
    out = run_dir / "sweep"
    monkeypatch.setattr(sys, "argv", ["grpo_sweep.py", "--parent", str(run_dir / "sft"), "--preset", "micro",
                                      "--runs", "correct:1e-5:2:1:temperature=0.3", "--val", "4", "--out", str(out)])
    grpo_sweep.main()
    [row] = json.loads((out / "grpo_sweep.json").read_text())["runs"]
    assert row["reward"] == "correct" and row["steps"] == 1 and 0.0 <= row["val_after"] <= 1.0
    assert row["temperature"] == 0.3 and row["optim"] == "adamw_torch_fused"
    assert 0.0 <= row["val_sampled_before"] <= 1.0 and 0.0 <= row["val_sampled_after"] <= 1.0
    assert row["val_gained"] - row["val_lost"] == round(4 * (row["val_after"] - row["val_before"]))
    with pytest.raises(ValueError, match=r"unknown GRPO setting.*valid: reward"):
        grpo_sweep.parse_run("correct:1e-5:2:1:temprature=0.3")
    monkeypatch.setattr(sys, "argv", sys.argv + ["--repeat", "2"])  # the 8-step micro model never solves one
    with pytest.raises(SystemExit, match="needs a parent that is sometimes right"):
        grpo_sweep.main()


def test_a_stage_is_compared_with_its_parent_pooled_and_task_by_task():
    before = {"arith": [1, 0, 0, 0], "word": [1, 1, 0, 0]}
    after = {"arith": [1, 1, 1, 0], "word": [0, 1, 0, 0]}
    result = pl.paired_vs_parent(before, after)
    assert (result["problems"], result["gained"], result["lost"]) == (8, 2, 1)
    assert (result["before"], result["after"]) == (0.375, 0.5)
    arith = result["by_task"]["arith"]
    assert (arith["before"], arith["after"], arith["gained"], arith["lost"]) == (0.25, 0.75, 2, 0)
    assert (result["by_task"]["word"]["gained"], result["by_task"]["word"]["lost"]) == (0, 1)


def test_the_paired_test_counts_the_problems_that_changed():
    from training.sampling import paired_test
    before, after = [1, 1] + [0] * 10, [1, 0] + [1] * 10   # 10 problems gained, 1 lost
    result = paired_test(before, after)
    assert (result["gained"], result["lost"]) == (10, 1)
    assert (result["before"], result["after"]) == (0.1667, 0.9167)
    assert result["p"] == 0.0117        # 2 * P(X >= 10), X ~ Binomial(11, 1/2) = 24 / 2048
    assert paired_test(before, before)["p"] == 1.0
    with pytest.raises(ValueError, match="differ in length: 12 vs 1"):
        paired_test(before, [1])


class _FixedSteps:
    """A `Generator` that proposes the same next steps for every prefix (in order, cycling)."""

    def __init__(self, steps):
        self.steps = steps

    def propose(self, prefixes, n, **_):
        from reasoning_core.protocols import Continuation
        return [[Continuation(self.steps[j % len(self.steps)], 3, -1.0, False) for j in range(n)] for _ in prefixes]


def test_step_grpo_groups_are_judged_by_the_exact_step_check():
    """A state's siblings are rewarded by whether they are its correct next step; a group whose siblings all
    agree carries no GRPO signal and is dropped; the advantages of a kept group sum to zero."""
    from experiments.step_grpo import State, gold_sequences, grpo_sequences, state_accuracy
    tok = build_tokenizer(256)
    state = State("3 + 6 + 2", ["3 + 6 = 9"])
    assert [state.reward(s) for s in ("9 + 2 = 11", "9 + 2 = 12", "The answer is 11", "")] == [1.0, 0.0, 0.0, 0.0]
    mixed = _FixedSteps(["9 + 2 = 11", "9 + 2 = 12", "9 + 2 = 13", "9 + 2 = 11"])
    seqs = grpo_sequences(mixed, tok, [state], 4, 0.7)
    assert len(seqs) == 4 and abs(sum(a for _, _, a in seqs)) < 1e-5
    assert [a > 0 for _, _, a in seqs] == [True, False, False, True]
    assert tok.decode(seqs[0][0][seqs[0][1]:]) == "9 + 2 = 11\n"  # the step and its delimiter are trained
    assert grpo_sequences(_FixedSteps(["9 + 2 = 12"]), tok, [state], 4, 0.7) == []
    assert state_accuracy(mixed, [state], 0.7) == 0.5
    done = State("3 + 6 + 2", ["3 + 6 = 9", "9 + 2 = 11"])
    assert state.gold_step == ("9 + 2 = 11", False) and done.gold_step == ("The answer is 11", True)
    [(ids, start, weight)] = gold_sequences(tok, [done])
    assert tok.decode(ids[start:-1]) == "The answer is 11" and ids[-1] == tok.eos_token_id and weight == 1.0


def test_step_grpo_gradient_ascends_the_rewarded_step(run_dir):
    """Moving the model a little along the experiment's `+gradient` makes the rewarded sibling more likely and the
    penalised one less likely: the sign every row of the experiment relies on."""
    from experiments.step_grpo import State, grpo_sequences, policy_gradient
    model, tok = pl.load_generator(run_dir / "sft")
    seqs = grpo_sequences(_FixedSteps(["9 + 2 = 11", "9 + 2 = 12"]), tok, [State("3 + 6 + 2", ["3 + 6 = 9"])], 2, 0.7)

    def logp(ids, start):
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
        return float(out[torch.arange(start - 1, len(ids) - 1), torch.tensor(ids[start:])].sum())

    before = [logp(ids, p) for ids, p, _ in seqs]
    grad = policy_gradient(model, tok, seqs)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grad))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grad):
            p.sub_(0.05 * g / norm)
    after = [logp(ids, p) for ids, p, _ in seqs]
    assert after[0] > before[0] and after[1] < before[1]


class _OracleSteps:
    """A `Generator` whose proposals alternate between the gold next step and a wrong one."""

    def propose(self, prefixes, n, **_):
        from reasoning_core.protocols import Continuation
        from reasoning_core.tasks.arith import parse_problem
        out = []
        for text in prefixes:
            question, done = text.split("\n", 1)[0].removeprefix("Question: "), text.split("Answer:\n", 1)[1]
            gold = parse_problem(question).steps()[done.count("\n")]
            out.append([Continuation(gold if j % 2 == 0 else "1 + 1 = 3", 3, -1.0, False) for j in range(n)])
        return out


def test_step_grpo_reports_every_direction_and_arm(run_dir, monkeypatch):
    from experiments import step_grpo
    out = run_dir / "step-grpo"
    argv = ["step_grpo.py", "--parent", str(run_dir / "sft"), "--preset", "micro", "--problems", "3,3",
            "--siblings", "2", "--scales", "0.01", "--val", "4", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv + ["--train", ""])  # the 8-step micro model's siblings are all wrong
    with pytest.raises(SystemExit, match="GRPO has no signal"):
        step_grpo.main()
    monkeypatch.setattr(step_grpo, "make_generator", lambda model, tok: _OracleSteps())
    monkeypatch.setattr(sys, "argv", argv + ["--train", "grpo:2:2,sft:2:2"])
    step_grpo.main()
    rows = json.loads((out / "line_search.json").read_text())["rows"]
    assert [(r["states"], r["direction"]) for r in rows] == [
        (kind, d) for kind in ("on-policy", "greedy-errors")
        for d in ("parent", "+gradient", "-gradient", "gold step (SFT)")]
    assert all(0.0 <= r[k] <= 1.0 for r in rows for k in ("val_greedy", "val_sampled"))
    assert all(r["state_step_acc"] == 0.5 and r["groups_with_signal"] == r["n_states"] > 0 for r in rows)
    parent, grpo, sft = json.loads((out / "training.json").read_text())["rows"]
    assert (parent["arm"], grpo["arm"], sft["arm"]) == ("parent", "grpo", "sft")
    assert grpo["states_trained"] == grpo["states_seen"] > 0 and sft["states_trained"] == sft["states_seen"] > 0
    with pytest.raises(ValueError, match="unknown arm 'ppo'; valid: grpo, sft"):
        step_grpo.Arm.parse("ppo:2:2")


def test_process_advantages_blame_the_wrong_step_and_credit_the_steps_after_it():
    """Outcome GRPO pushes down every token of a wrong chain; per-step advantages push down only the
    wrong step ("3 + 6 = 8") and credit the correct arithmetic after it ("8 + 6 = 14")."""
    from training.rl import process_advantages, token_steps
    tok = build_tokenizer(256)
    lucky, sound = "3 + 6 = 8\n8 + 6 = 14\nThe answer is 14", "3 + 6 = 9\n9 + 6 = 15\nThe answer is 15"
    rows = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in (lucky, sound)]
    width = max(map(len, rows))
    ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    steps, owner = token_steps(tok, rows[0], "\n")
    assert steps == lucky.split("\n") and owner[:10] == [0] * 10 and owner[10] == 1 and owner[-1] == 2

    def local(problem, paths):  # the exact checker as a step scorer: each step judged on its own
        return [[0.0 if s == "3 + 6 = 8" else 1.0 for s in p] for p in paths]
    adv = process_advantages(tok, ["3 + 6 + 6"] * 2, ids, mask, local, group=2)
    first, second = owner.index(1), owner.index(2)
    assert (adv[0, :first] < 0).all() and (adv[0, first:len(rows[0])] > 0).all()
    assert (adv[1, :len(rows[1])] > 0).all() and (adv[:, len(rows[1]):] == 0).all() and second > first


def test_unknown_names_list_valid_ones():
    from training.__main__ import GRPO_REWARDS
    from training.__main__ import PRM_FORMATS as CLI_FORMATS
    from training.prm import PRM_FORMATS, RewardConfig
    from training.rl import REWARDS, reward_fn
    assert GRPO_REWARDS == REWARDS  # the command line offers exactly the rewards training.rl knows
    assert CLI_FORMATS == PRM_FORMATS
    with pytest.raises(ValueError, match="token_classification, implicit"):
        RewardConfig(format="nope")
    with pytest.raises(ValueError, match="correct, orm, prm, process"):
        reward_fn("nope")
    with pytest.raises(ValueError, match="micro, tiny, small"):
        preset("huge")


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError), ckpt.atomic_dir(tmp_path / "stage") as tmp:
        (tmp / "partial").write_text("x")
        raise RuntimeError("killed")
    assert not (tmp_path / "stage").exists()


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "training", "pipeline", "--out", str(out), "--preset", "micro"]


@pytest.mark.slow
def test_pipeline_micro_end_to_end(tmp_path):
    start = time.time()
    subprocess.run(_cli(tmp_path), cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert time.time() - start < 180
    for stage in ("sft", "star", "labels", "prm", "orm", "verifier", "grpo", "generator"):
        assert ckpt.is_complete(tmp_path / stage), stage
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["generator"]["selected"] in ("sft", "star", "grpo")


@pytest.mark.slow
def test_kill_during_stage_then_rerun(tmp_path):
    proc = subprocess.Popen(_cli(tmp_path), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (tmp_path / ".tmp-star").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "pipeline ended before the star stage could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.is_complete(tmp_path / "sft") and not (tmp_path / "star").exists()
    sft_weights = (tmp_path / "sft" / "model.safetensors").read_bytes()
    subprocess.run(_cli(tmp_path), cwd=ROOT, check=True, capture_output=True, timeout=300)
    assert (tmp_path / "sft" / "model.safetensors").read_bytes() == sft_weights
    assert ckpt.is_complete(tmp_path / "star") and ckpt.is_complete(tmp_path / "generator")
    assert not (tmp_path / ".tmp-star").exists()


def test_labels_exported_from_the_app_train_a_prm_with_one_command(run_dir, tmp_path, capsys):
    from reasoning_core import rewards
    from reasoning_core.fakes import FakeArithGenerator, FakeArithPRM
    from reasoning_core.run import solve
    from reasoning_core.search import Problem, make_config
    from reasoning_core.tasks import arith, get_task
    from training import __main__ as cli
    from ui import inspector

    rows = []  # what a user does in the node inspector: pick each finished chain, mark its steps, export
    for ex in arith.problems("test", 4, seed=3):
        result = solve("best_of_n", Problem(ex.problem, get_task("arith"), ex.reference), FakeArithGenerator(0.6),
                       FakeArithPRM(), None, make_config("best_of_n", n=2))
        for leaf in result.tree.terminals():
            rows.append(inspector.stepwise_row(result, leaf.id, inspector.path_table(result.tree, leaf.id)))
    labels = Path(inspector.write_jsonl(rows))
    out = tmp_path / "my-prm"
    code = cli.main(["prm", "--parent", str(run_dir / "sft"), "--labels", str(labels), "--out", str(out),
                     "--preset", "micro"])
    assert code == 0 and ckpt.is_complete(out)
    assert ckpt.read_meta(out)["metrics"]["train_chains"] == len(rows)
    prm = rewards.load(str(out))  # the core loads it like any PRM
    scores = prm.score(rows[0]["prompt"], [rows[0]["completions"]])[0]
    assert len(scores) == len(rows[0]["completions"]) and all(0.0 <= s <= 1.0 for s in scores)
    assert cli.main(["prm", "--parent", str(run_dir / "sft"), "--labels", str(tmp_path / "none.jsonl"),
                     "--out", str(out), "--preset", "micro"]) == 2
    assert "no such file; export one from the app's node inspector" in capsys.readouterr().err

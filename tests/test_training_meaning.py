"""What training reports, pinned by meaning: SFT learns (its loss on gold chains falls below the
untrained model's), Math-Shepherd labels agree with the exact checker above chance, the pipeline ships
its best generator and a rerun skips finished stages (counted, not inferred from equal weights)."""
from __future__ import annotations

import json
import random

import pytest
import torch

from reasoning_core.fakes import FakeArithGenerator
from reasoning_core.tasks import arith, check_steps
from training import checkpoint as ckpt
from training import pipeline as pl
from training.config import preset
from training.data import mix_problems, sft_dataset
from training.label_steps import LabelConfig, agreement, math_shepherd
from training.sampling import Chain
from training.sft import build_generator, train_sft


def completion_nll(model, tok, rows) -> float:
    """Mean negative log-likelihood per completion token of prompt -> completion rows."""
    total, count = 0.0, 0
    with torch.no_grad():
        for row in rows:
            prompt = tok(row["prompt"], add_special_tokens=False).input_ids
            ids = tok(row["prompt"] + row["completion"], add_special_tokens=False, return_tensors="pt").input_ids
            logps = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
            targets = ids[0, 1:]
            picked = logps[torch.arange(len(targets)), targets][len(prompt) - 1:]
            total, count = total - float(picked.sum()), count + len(picked)
    return total / count


def test_micro_sft_lowers_the_loss_on_held_out_gold_chains(tmp_path):
    cfg = preset("micro")
    torch.manual_seed(cfg.seed)
    model, tok = build_generator(cfg.model)
    held_out = list(sft_dataset(mix_problems(cfg.mix, "validation", 16, seed=3)))
    before = completion_nll(model, tok, held_out)
    data = sft_dataset(mix_problems(cfg.mix, "train", cfg.sft_problems, seed=cfg.seed))
    stats = train_sft(model, tok, data, cfg.sft, str(tmp_path))
    after = completion_nll(model, tok, held_out)
    assert after < before - 0.3, (before, after)  # an untrained char model starts near log(vocab)
    assert stats["train_loss"] < before


def corrupted_chains(count: int, seed: int = 0) -> tuple[list[Chain], list[str]]:
    """Gold chains of arith problems, half of them with one step's result off by one (and the rest of
    the chain carried on from the wrong value, as a model's would be)."""
    rng = random.Random(seed)
    chains, refs = [], []
    for i, ex in enumerate(arith.problems("validation", count, seed=seed, min_ops=2, max_ops=4, digits=1)):
        gen = FakeArithGenerator(1.0)  # always right: the gold chain
        chain = Chain(ex.problem, [], True)
        wrong_at = rng.randrange(len(ex.steps) - 1) if i % 2 else None  # never the answer line itself
        prompt = "Question: " + ex.problem + "\nAnswer:\n"
        for k in range(len(ex.steps)):
            (cont,) = gen.propose([prompt + "".join(s + "\n" for s in chain.steps)], 1, stop="\n",
                                  max_new_tokens=48, temperature=0.0, seed=0)[0]
            text = cont.text
            if k == wrong_at:
                head, _, value = text.rpartition("= ")
                text = f"{head}= {int(value) + 1}"
            chain.steps.append(text)
        chains.append(chain)
        refs.append(ex.reference)
    return chains, refs


def test_math_shepherd_labels_agree_with_the_exact_checker_above_chance():
    chains, refs = corrupted_chains(24)
    rows = math_shepherd(FakeArithGenerator(0.8), chains, refs, LabelConfig(rollouts=4, temperature=0.7, seed=5))
    gold = [g for c in chains for g in check_steps(c.problem, c.steps)]
    labels = [bool(x) for r in rows for x in r["labels"]]
    assert len(gold) == len(labels) and 0.2 < sum(gold) / len(gold) < 0.9  # both kinds of step occur
    good_recall = sum(lab for lab, g in zip(labels, gold) if g) / sum(gold)
    bad_recall = sum(not lab for lab, g in zip(labels, gold) if not g) / (len(gold) - sum(gold))
    assert (good_recall + bad_recall) / 2 > 0.75, (good_recall, bad_recall)  # labelling all good scores 0.5


def fake_stage(out, name: str, acc: float, calls: list[str], paired: tuple[float, float] | None = None) -> dict:
    """What a finished stage leaves behind, without training anything; `paired`: its parent's accuracy on the
    paired set and the test's p."""
    calls.append(name)
    metrics = {"val_greedy_acc": acc}
    if paired:
        metrics["paired_vs_parent"] = {"before": paired[0], "after": acc, "p": paired[1]}
    with ckpt.atomic_dir(out) as tmp:
        (tmp / ckpt.META).write_text(json.dumps({"stage": name, "metrics": metrics}))
    return metrics


@pytest.fixture()
def fake_stages(monkeypatch):
    calls: list[str] = []
    accs = {"sft": 0.4, "star": 0.7, "grpo": 0.5}
    paired = {"star": (0.4, 0.001), "grpo": (0.7, 0.001)}    # STaR shown better than SFT, GRPO worse than STaR
    for name, run in (("sft", "run_sft"), ("verifier", "run_verifier"), ("star", "run_star"), ("labels", "run_label"),
                      ("prm", "run_prm"), ("orm", "run_orm"), ("grpo", "run_grpo")):
        def stage(*args, _name=name, **kw):  # the stage's own folder is its last argument of that name
            out = next(a for a in reversed(args) if getattr(a, "name", None) == _name)
            return fake_stage(out, _name, accs.get(_name, 0.0), calls, paired.get(_name))
        monkeypatch.setattr(pl, run, stage)
    return calls


def test_the_pipeline_ships_its_best_generator_and_skips_finished_stages(tmp_path, fake_stages):
    summary = pl.run_pipeline(preset("micro"), tmp_path)
    assert fake_stages == ["sft", "verifier", "star", "labels", "prm", "orm", "grpo"]
    assert summary["generator"] == {"selected": "star", "val_greedy_acc": 0.7}
    assert ckpt.read_meta(tmp_path / "generator")["selected_from"] == "star"
    fake_stages.clear()
    pl.run_pipeline(preset("micro"), tmp_path)
    assert fake_stages == [], "a rerun must not redo finished stages"


def test_skipped_stages_do_not_run_and_their_finished_output_still_competes(tmp_path, fake_stages, capsys):
    from training.__main__ import main

    summary = pl.run_pipeline(preset("micro"), tmp_path, skip=["star", "grpo"])
    assert fake_stages == ["sft", "verifier", "labels", "prm", "orm"]
    assert summary["generator"]["selected"] == "sft" and "grpo" not in summary
    fake_stage(tmp_path / "grpo", "grpo", 0.9, [], (0.4, 0.01))     # e.g. trained by hand, or by an earlier run
    assert pl.run_pipeline(preset("micro"), tmp_path, skip=["grpo"])["generator"]["selected"] == "grpo"
    assert main(["pipeline", "--out", str(tmp_path / "other"), "--skip", "grpo,stra"]) == 2
    assert "unknown stage(s) stra; valid: sft, verifier, star, labels" in capsys.readouterr().err


def test_a_skip_that_leaves_a_later_stage_without_its_input_is_refused_before_anything_runs(tmp_path, fake_stages,
                                                                                            capsys):
    from training.__main__ import main

    with pytest.raises(ValueError, match=r"stage prm needs labels, which --skip leaves unbuilt.*skip prm too"):
        pl.run_pipeline(preset("micro"), tmp_path, skip=["labels"])
    with pytest.raises(ValueError, match="the export to assets needs prm"):
        pl.run_pipeline(preset("micro"), tmp_path, skip=["prm", "grpo"], assets=tmp_path / "assets")
    assert fake_stages == []
    assert main(["pipeline", "--out", str(tmp_path), "--skip", "verifier"]) == 2
    assert "--skip: stage star needs verifier" in capsys.readouterr().err
    pl.run_pipeline(preset("micro"), tmp_path, skip=["labels", "prm", "orm", "grpo"])   # nothing needs what is left out
    assert fake_stages == ["sft", "verifier", "star"]


def test_a_later_stage_is_shipped_only_when_its_paired_gain_over_its_parent_is_shown(tmp_path):
    def pick(star: tuple, grpo: tuple) -> str:
        """Each stage as (validation accuracy, (its parent's paired accuracy, p) or None)."""
        for name, (acc, paired) in (("sft", (0.431, None)), ("star", star), ("grpo", grpo)):
            fake_stage(tmp_path / name, name, acc, [], paired)
        return pl.pick_generator(tmp_path, ["sft", "star", "grpo"])["selected"]

    none = (0.0, None)
    # the v6 STaR at lr 1e-4: higher on validation, no difference on the paired set
    assert pick((0.436, (0.431, 0.76)), none) == "sft"
    assert pick((0.46, (0.431, 0.01)), none) == "star"
    assert pick((0.40, (0.431, 0.001)), none) == "sft"                     # shown, but worse
    assert pick((0.46, (0.431, 0.01)), (0.50, (0.46, 0.02))) == "grpo"
    assert pick((0.436, (0.431, 0.76)), (0.50, (0.431, 0.02))) == "grpo"   # GRPO was trained from SFT then
    assert pick(none, (0.9, None)) == "sft"                                # no paired test: nothing shown
    meta = ckpt.read_meta(tmp_path / "generator")
    assert meta["selected_from"] == "sft" and meta["candidates"]["grpo"] == {"val_greedy_acc": 0.9, "gain_shown": False}


def test_label_agreement_is_reported_per_task_against_the_exact_checker():
    from reasoning_core.tasks import generated

    ar = generated("arith").generate("train", 1, seed=5, levels=[2])[0]
    le = generated("letters").generate("train", 1, seed=5, levels=[4])[0]
    wrong = list(le.steps)
    wrong[0] = wrong[0].rsplit("-> ", 1)[0] + "-> 7"  # a miscount, labelled good below
    rows = [{"prompt": ar.problem, "completions": list(ar.steps), "labels": [True] * len(ar.steps)},
            {"prompt": le.problem, "completions": wrong, "labels": [True] * len(wrong)}]
    report = agreement(rows)
    gold = check_steps(le.problem, wrong)
    assert report["by_task"]["arith"]["step_agreement"] == 1.0
    assert report["by_task"]["letters"]["step_agreement"] == round(sum(gold) / len(gold), 4) < 1.0
    assert report["steps"] == len(ar.steps) + len(wrong) and report["by_task"]["letters"]["chain_exact_match"] == 0
    assert "by_task" not in agreement(rows[:1])  # one task: nothing to break down

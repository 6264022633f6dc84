"""Every stage as a function `(cfg, out, ...) -> metrics`, and `run_pipeline` chaining them.

Each stage writes one folder atomically (see `checkpoint.atomic_dir`) and is skipped when that folder
is already complete, so an interrupted pipeline resumes where it stopped:

    DIR/sft  DIR/verifier  DIR/star  DIR/labels  DIR/prm  DIR/orm  DIR/grpo
    DIR/generator (best of sft/star/grpo)

The verifier (SFT trained further) filters STaR's chains step by step; labels, reward models and GRPO
start from the better of SFT and STaR (validation greedy accuracy).
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch
from safetensors.torch import save_model
from transformers import AutoModelForCausalLM

from reasoning_core import rewards
from reasoning_core.checkpoints import load_pretrained, load_tokenizer
from reasoning_core.rewards import AgreementVerifier, OutcomeRM, TokenClassificationPRM
from reasoning_core.rewards.implicit import REFERENCE_FILE, ImplicitPRM
from reasoning_core.tasks import recognised

from . import checkpoint as ckpt
from .config import PipelineConfig
from .data import TASK, load_stepwise, mix_problems, sft_dataset, split_problems
from .examples import pick_examples
from .label_steps import label_chains
from .prm import KeepBest, auc, score_by_problem, train_implicit_prm, train_orm, train_prm
from .reward_eval import step_report, within_auc
from .rl import grpo_dataset, reward_fn, step_scorer, train_grpo
from .sampling import greedy_solved, paired_test, sample_accuracy, sample_chains
from .sft import build_generator, train_sft
from .star import star_round

logger = logging.getLogger(__name__)


def load_generator(path: str | Path):
    """A generator checkpoint (model in eval mode, tokenizer) on the CPU, opened as the core opens one."""
    return load_pretrained(AutoModelForCausalLM, Path(path), device="cpu"), load_tokenizer(Path(path))


def solved_by_task(model, tok, cfg: PipelineConfig, split: str, count: int) -> dict[str, list[int]]:
    """Per task of the mix, 1 or 0 for each of its first `count` problems of `split`: greedy solved it."""
    problems, refs = split_problems(split, count, cfg.mix, per_task=True)
    solved = greedy_solved(model, tok, problems, refs, desc=f"greedy {split}")
    by_task: dict[str, list[int]] = {}
    for problem, ok in zip(problems, solved):
        by_task.setdefault(recognised(problem) or "unread", []).append(ok)
    return dict(sorted(by_task.items()))


def accuracy_by_task(model, tok, cfg: PipelineConfig, split: str = "validation") -> dict[str, float]:
    """Greedy accuracy on `cfg.eval_problems` problems of each task of the mix."""
    by_task = solved_by_task(model, tok, cfg, split, cfg.eval_problems)
    return {name: round(sum(v) / len(v), 4) for name, v in by_task.items()}


def paired_set(model, tok, cfg: PipelineConfig) -> dict[str, list[int]]:
    """Greedy results on the paired set: `cfg.paired_problems` validation problems of each task, on which a
    stage that trains a generator further (STaR, GRPO) is compared with its parent."""
    return solved_by_task(model, tok, cfg, "validation", cfg.paired_problems)


def paired_vs_parent(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict:
    """`paired_test` over all the paired set's problems, then task by task: a stage's gain over its parent
    is shown when p < 0.05."""
    pooled = paired_test([ok for v in before.values() for ok in v], [ok for v in after.values() for ok in v])
    return pooled | {"problems": sum(map(len, before.values())),
                     "by_task": {name: paired_test(before[name], after[name]) for name in before}}


def evaluate(model, tok, cfg: PipelineConfig, split: str = "validation") -> float:
    """The mean of the tasks' greedy accuracies (each task counts the same, whatever its weight)."""
    by_task = accuracy_by_task(model, tok, cfg, split)
    return round(sum(by_task.values()) / len(by_task), 4)


def evaluate_sampled(model, tok, cfg: PipelineConfig, temperature: float, n: int = 2) -> float:
    """Validation accuracy of `n` chains per problem sampled at `temperature`: what GRPO optimises."""
    problems, refs = split_problems("validation", cfg.eval_problems, cfg.mix, per_task=True)
    return round(sample_accuracy(model, tok, problems, refs, n=n, temperature=temperature, seed=1,
                                 desc=f"sampled validation T={temperature}"), 4)


def _metrics(model, tok, cfg: PipelineConfig, started: float, **extra) -> dict:
    val, test = accuracy_by_task(model, tok, cfg, "validation"), accuracy_by_task(model, tok, cfg, "test")
    return {"val_greedy_acc": round(sum(val.values()) / len(val), 4),
            "test_greedy_acc": round(sum(test.values()) / len(test), 4),
            "val_greedy_acc_by_task": val, "test_greedy_acc_by_task": test, **extra,
            "wall_s": round(time.time() - started, 1)}


def run_sft(cfg: PipelineConfig, out: Path) -> dict:
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    model, tok = build_generator(cfg.model)
    data = sft_dataset(mix_problems(cfg.mix, "train", cfg.sft_problems, seed=cfg.seed))
    with ckpt.atomic_dir(out) as tmp:
        stats = train_sft(model, tok, data, cfg.sft, str(tmp))
        metrics = _metrics(model, tok, cfg, t0, params=sum(p.numel() for p in model.parameters()), **stats)
        ckpt.save_checkpoint(tmp, model, tok, stage="sft", kind="generator", parent=None,
                             config=cfg.to_dict(), metrics=metrics)
    return metrics


def run_star(cfg: PipelineConfig, parent: Path, out: Path, verifier: Path | None = None) -> dict:
    """STaR rounds from `parent`; with `verifier` (a reward checkpoint) kept chains must pass it step by step."""
    t0 = time.time()
    model, tok = load_generator(parent)
    judge = rewards.load(str(verifier), device="cpu") if verifier else None
    before = paired_set(model, tok, cfg)
    rounds = [{"round": 0, "val_greedy_acc": evaluate(model, tok, cfg)}]
    # each round replays its own slice of the SFT stage's problems; drawing only those keeps the default preset
    # from building its 313,600-row SFT set to replay 3,200 rows
    k = cfg.star.replay_rows
    sft_rows = sft_dataset(mix_problems(cfg.mix, "train", min(cfg.sft_problems, k * cfg.star.rounds), seed=cfg.seed)) \
        if k else None
    with ckpt.atomic_dir(out) as tmp:
        for r in range(1, cfg.star.rounds + 1):
            # fresh train problems every round (seed stream disjoint from the SFT problems)
            problems, refs = split_problems("train", cfg.star.problems, cfg.mix, seed=cfg.seed + 100 + r)
            replay = sft_rows.select([i % len(sft_rows) for i in range((r - 1) * k, r * k)]) if k else None
            stats = star_round(model, tok, problems, refs, cfg.star, seed=cfg.seed + r, work_dir=str(tmp),
                               replay=replay, verifier=judge)
            rounds.append({"round": r, "val_greedy_acc": evaluate(model, tok, cfg), **stats})
            logger.info("STaR round %d: %s", r, rounds[-1])
        metrics = _metrics(model, tok, cfg, t0, rounds=rounds, verifier=str(verifier) if verifier else None,
                           paired_vs_parent=paired_vs_parent(before, paired_set(model, tok, cfg)))
        ckpt.save_checkpoint(tmp, model, tok, stage="star", kind="generator", parent=str(parent),
                             config=cfg.to_dict(), metrics=metrics)
    return metrics


def run_label(cfg: PipelineConfig, parent: Path, out: Path) -> dict:
    t0 = time.time()
    model, tok = load_generator(parent)
    problems, refs = split_problems("train", cfg.label.problems, cfg.mix, seed=cfg.seed + 200)
    shepherd, omega, metrics = label_chains(model, tok, problems, refs, cfg.label)
    metrics["wall_s"] = round(time.time() - t0, 1)
    with ckpt.atomic_dir(out) as tmp:
        shepherd.to_json(tmp / "math_shepherd.jsonl")
        omega.to_json(tmp / "omega_prm.jsonl")
        (tmp / "README.md").write_text("Stepwise process labels (TRL stepwise form: prompt, completions, "
                                       "labels, soft_labels, reference).\n\n"
                                       f"```json\n{json.dumps(metrics, indent=2)}\n```\n")
        (tmp / ckpt.META).write_text(json.dumps({"stage": "label", "parent": str(parent), "metrics": metrics,
                                                 "config": cfg.to_dict(), "git_commit": ckpt.git_commit()},
                                                indent=2) + "\n")
    return metrics


def _label_rows(labels: Path, source: str):
    """The labels of a `label` folder (`source` picks the method), or of one stepwise JSONL file."""
    from datasets import concatenate_datasets

    if labels.is_file():
        return load_stepwise(labels)
    names = {"math_shepherd": ["math_shepherd"], "omega_prm": ["omega_prm"],
             "both": ["math_shepherd", "omega_prm"]}
    if source not in names:
        raise ValueError(f"unknown label source {source!r}; valid: {', '.join(names)}")
    return concatenate_datasets([load_stepwise(labels / f"{n}.jsonl", "trl") for n in names[source]])


HELDOUT_SAMPLES = 4  # chains per validation problem: a problem's own chains are what a verifier must rank


def _heldout_chains(cfg: PipelineConfig, parent: Path, count: int, cache: Path | None = None):
    """Chains the generator samples on `count` validation problems of each task (never seen by any reward
    model), `HELDOUT_SAMPLES` per problem. Sampling is seeded, so the stages that judge reward models on
    the same parent share one sample: `cache` (a JSON file) keeps it for the next stage."""
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        return saved["problems"], saved["paths"], saved["references"]
    model, tok = load_generator(parent)
    problems, refs = split_problems("validation", count, cfg.mix, seed=cfg.seed + 300, per_task=True)
    groups = sample_chains(model, tok, problems, HELDOUT_SAMPLES, temperature=1.0, seed=cfg.seed + 300,
                           desc="held-out chains")
    chains = [(c, ref) for g, ref in zip(groups, refs) for c in g if c.steps]
    out = [c.problem for c, _ in chains], [c.steps for c, _ in chains], [r for _, r in chains]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(dict(zip(("problems", "paths", "references"), out))))
    return out


def heldout_cache(out: Path, parent: Path, count: int, seed: int) -> Path:
    """Where the stages writing `out` keep the held-out chains of `parent` (next to the stage folders),
    named by the parent's meta.json, so a retrained parent never reads its predecessor's chains."""
    stamp = hashlib.sha256((parent / ckpt.META).read_bytes()).hexdigest()[:12]
    return out.parent / ".heldout" / f"{parent.resolve().name}-{stamp}-{count}-{seed}.json"


def _heldout_step_auc(cfg: PipelineConfig, parent: Path, score, cache: Path | None = None) -> dict:
    """How `score(problems, paths) -> step scores` ranks steps against the exact checker: within problems
    and pooled, on chains the policy samples for validation problems, and gold chains against the same
    chains with one result changed (`reward_eval.step_report`)."""
    problems, paths, _ = _heldout_chains(cfg, parent, cfg.prm.eval_problems, cache)
    gold = mix_problems(cfg.mix, "validation", cfg.prm.eval_problems, seed=cfg.seed + 301, per_task=True)
    report = step_report(score, problems, paths, gold)
    return {"within_problem_step_auc": report["within_problem_step_auc_mean"],
            "within_problem_live_step_auc": report["within_problem_live_step_auc_mean"],
            "gold_vs_one_result_changed": report["gold_vs_one_result_changed_mean"],
            "step_auc_vs_check_steps": report["pooled_step_auc_mean"], "by_task": report["per_task"],
            "heldout_chains": len(paths), "heldout_steps": sum(t["steps"] for t in report["per_task"].values())}


def run_prm(cfg: PipelineConfig, parent: Path, labels: Path, out: Path) -> dict:
    """The PRM in `cfg.prm.format`: a token classifier, or an implicit PRM saved with its reference."""
    t0 = time.time()
    tok = load_tokenizer(parent)
    rows = _label_rows(labels, cfg.prm.label_source)
    with ckpt.atomic_dir(out) as tmp:
        if cfg.prm.format == "implicit":
            model, ref, stats = train_implicit_prm(str(parent), tok, rows, cfg.prm, str(tmp))
            prm = ImplicitPRM.from_models(model, ref, tok, task=TASK.name, beta=cfg.prm.beta)
        else:
            (model, stats), ref = train_prm(str(parent), tok, rows, cfg.prm, str(tmp)), None
            prm = TokenClassificationPRM.from_model(model, tok, task=TASK.name)
        cache = heldout_cache(out, parent, cfg.prm.eval_problems, cfg.seed)
        metrics = {**_heldout_step_auc(cfg, parent, partial(score_by_problem, prm), cache),
                   **stats, "wall_s": round(time.time() - t0, 1)}
        save_prm(tmp, model, tok, cfg, parent, metrics, reference=ref)
    return metrics


def save_prm(folder: Path, model, tok, cfg: PipelineConfig, parent: Path, metrics: dict, reference=None) -> None:
    """A PRM checkpoint the core loads by itself: a token classifier, or (`reference` given) an implicit PRM
    with its reference's weights beside it (`reference.safetensors`) and its beta in stepwise.json."""
    kind, settings = ("implicit", {"beta": cfg.prm.beta}) if reference is not None else ("prm", {})
    ckpt.save_checkpoint(folder, model, tok, stage="prm", kind=kind, parent=str(parent), config=cfg.to_dict(),
                         metrics=metrics, settings=settings)
    if reference is not None:
        save_model(reference, str(folder / REFERENCE_FILE))


def outcome_rows(problems: list[str], paths: list[list[str]], references: list[str]) -> list[dict]:
    """Chains labelled by whether their final answer is right: what an ORM trains on and is judged by."""
    return [{"prompt": p, "completions": s, "correct": TASK.is_correct(TASK.extract_answer("\n".join(s)), r)}
            for p, s, r in zip(problems, paths, references)]


def sampled_outcome_rows(cfg: PipelineConfig, parent: Path) -> list[dict]:
    """Cobbe et al.'s ORM rows: `cfg.orm.samples` chains sampled at T=1 on each of `cfg.orm.problems` train
    problems (many per problem, so the ORM sees right and wrong chains of the same problem)."""
    model, tok = load_generator(parent)
    problems, refs = split_problems("train", cfg.orm.problems, cfg.mix, seed=cfg.seed + 700)
    groups = sample_chains(model, tok, problems, cfg.orm.samples, temperature=1.0, seed=cfg.seed + 700,
                           desc="ORM chains")
    chains = [(c, r) for g, r in zip(groups, refs) for c in g if c.steps]
    return outcome_rows([c.problem for c, _ in chains], [c.steps for c, _ in chains], [r for _, r in chains])


def outcome_ranking(orm, rows: list[dict]) -> dict:
    """An ORM's AUC on labelled chains, pooled and within problems (what choosing among one problem's
    samples needs)."""
    problems = [r["prompt"] for r in rows]
    scores = [row[0] for row in score_by_problem(orm, problems, [r["completions"] for r in rows])]
    correct = [r["correct"] for r in rows]
    within, used = within_auc(problems, [[c] for c in correct], [[x] for x in scores])
    return {"outcome_auc": auc(correct, scores), "within_problem_outcome_auc": within,
            "problems_with_both_outcomes": used}


def run_orm(cfg: PipelineConfig, parent: Path, labels: Path | None, out: Path) -> dict:
    """An ORM from `parent`: on the label stage's chains, or (`cfg.orm.samples` > 0) Cobbe et al.'s recipe,
    its checkpoint chosen on the within-problem AUC of a held-back tenth of the sampled problems."""
    t0 = time.time()
    tok = load_tokenizer(parent)
    keep, recipe = None, {"recipe": "label stage chains"}
    if cfg.orm.samples:
        rows = sampled_outcome_rows(cfg, parent)
        held = set(sorted({r["prompt"] for r in rows})[::10])
        chosen_on = [r for r in rows if r["prompt"] in held]
        rows = [r for r in rows if r["prompt"] not in held]
        keep = KeepBest(cfg.orm.select_every, lambda m: outcome_ranking(
            OutcomeRM.from_model(m, tok, task=TASK.name), chosen_on)["within_problem_outcome_auc"])
    else:
        labelled = _label_rows(labels, "math_shepherd")
        rows = outcome_rows([r["prompt"] for r in labelled], [r["completions"] for r in labelled],
                            [r["reference"] for r in labelled])
    with ckpt.atomic_dir(out) as tmp:
        model, stats = train_orm(str(parent), tok, rows, cfg.orm, str(tmp), callbacks=[keep] if keep else None)
        if keep:
            recipe = {"recipe": f"sampled: {cfg.orm.samples} chains per problem (Cobbe et al. 2021)",
                      "selection_chains": len(chosen_on), "selected_step": keep.best_step,
                      "selection_curve": keep.history}
        heldout = outcome_rows(*_heldout_chains(cfg, parent, cfg.orm.eval_problems,
                                                heldout_cache(out, parent, cfg.orm.eval_problems, cfg.seed)))
        metrics = {**outcome_ranking(OutcomeRM.from_model(model, tok, task=TASK.name), heldout),
                   "heldout_chains": len(heldout), "train_positive_fraction":
                   round(sum(r["correct"] for r in rows) / max(1, len(rows)), 4), **recipe, **stats,
                   "wall_s": round(time.time() - t0, 1)}
        ckpt.save_checkpoint(tmp, model, tok, stage="orm", kind="orm", parent=str(parent),
                             config=cfg.to_dict(), metrics=metrics)
    return metrics


def run_verifier(cfg: PipelineConfig, parent: Path, out: Path) -> dict:
    """Train `parent` (the SFT model) on fresh gold chains for `cfg.verifier` steps: a better solver, read
    as an agreement verifier. Its own greedy accuracy is reported too: a verifier helps search only as
    far as it out-solves the generator."""
    t0 = time.time()
    model, tok = load_generator(parent)
    data = sft_dataset(mix_problems(cfg.mix, "train", cfg.verifier.max_steps * cfg.verifier.batch_size,
                                    seed=cfg.seed + 500))
    with ckpt.atomic_dir(out) as tmp:
        stats = train_sft(model, tok, data, cfg.verifier, str(tmp))
        verifier = AgreementVerifier.from_model(model, tok, task=TASK.name)
        cache = heldout_cache(out, parent, cfg.prm.eval_problems, cfg.seed)
        metrics = _metrics(model, tok, cfg, t0, **_heldout_step_auc(cfg, parent, partial(score_by_problem, verifier),
                                                                    cache), **stats)
        ckpt.save_checkpoint(tmp, model, tok, stage="verifier", kind="verifier", parent=str(parent),
                             config=cfg.to_dict(), metrics=metrics)
    return metrics


def run_grpo(cfg: PipelineConfig, parent: Path, out: Path, prm: Path | None = None,
             orm: Path | None = None) -> dict:
    t0 = time.time()
    model, tok = load_generator(parent)
    before = evaluate(model, tok, cfg)
    paired_before = paired_set(model, tok, cfg)
    sampled_before = evaluate_sampled(model, tok, cfg, cfg.grpo.temperature)
    problems, refs = split_problems("train", cfg.grpo.problems, cfg.mix, seed=cfg.seed + 400)
    data = grpo_dataset(problems, refs)
    reward = reward_fn(cfg.grpo.reward, prm_path=prm and str(prm), orm_path=orm and str(orm))
    step_scores = step_scorer(str(prm)) if cfg.grpo.reward == "process" else None
    with ckpt.atomic_dir(out) as tmp:
        stats = train_grpo(model, tok, data, cfg.grpo, reward, str(tmp), step_scores=step_scores)
        # the reward logged on training batches moves with the problems drawn; held-out samples do not
        metrics = _metrics(model, tok, cfg, t0, val_greedy_acc_before=before, val_sampled_acc_before=sampled_before,
                           val_sampled_acc=evaluate_sampled(model, tok, cfg, cfg.grpo.temperature),
                           paired_vs_parent=paired_vs_parent(paired_before, paired_set(model, tok, cfg)),
                           reward=cfg.grpo.reward, **stats)
        ckpt.save_checkpoint(tmp, model, tok, stage="grpo", kind="generator", parent=str(parent),
                             config=cfg.to_dict(), metrics=metrics)
    return metrics


def shows_gain(metrics: dict) -> bool:
    """Whether a stage beat its parent on the paired validation set: more problems right, p < 0.05. Raw accuracy
    on a few hundred problems moves by noise alone (STaR at lr 1e-4 on the v6 generator: 0.436 against 0.431 on
    validation, and 83 gained against 88 lost on 2,100 paired problems, p = 0.76)."""
    test = metrics.get("paired_vs_parent")
    return bool(test) and test["after"] > test["before"] and test["p"] < 0.05


def lineage_pick(out: Path, candidates: list[str]) -> str:
    """The first candidate, replaced by each later one in turn that `shows_gain` over it (each stage of the
    lineage is trained from the pick before it)."""
    best = candidates[0]
    for c in candidates[1:]:
        if ckpt.is_complete(out / c) and shows_gain(ckpt.read_meta(out / c)["metrics"]):
            best = c
    return best


def pick_generator(out: Path, candidates: list[str]) -> dict:
    """Copy the `lineage_pick` to DIR/generator."""
    best = lineage_pick(out, candidates)
    metrics = {c: ckpt.read_meta(out / c)["metrics"] for c in candidates if ckpt.is_complete(out / c)}
    with ckpt.atomic_dir(out / "generator") as tmp:
        shutil.copytree(out / best, tmp, dirs_exist_ok=True)
        meta = ckpt.read_meta(tmp) | {"selected_from": best, "candidates": {
            c: {"val_greedy_acc": m["val_greedy_acc"], "gain_shown": shows_gain(m)} for c, m in metrics.items()}}
        (tmp / ckpt.META).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return {"selected": best, "val_greedy_acc": metrics[best]["val_greedy_acc"]}


# what each stage reads from the stages before it
NEEDS = {"verifier": ("sft",), "star": ("sft", "verifier"), "labels": ("sft",), "prm": ("labels",),
         "orm": ("labels",), "grpo": ("verifier", "orm")}


def check_skip(cfg: PipelineConfig, out: str | Path, skip: Sequence[str], export: bool) -> None:
    """A ValueError, before anything trains, when a stage left to run, the generator's pick or the export to
    assets needs a stage that `skip` leaves unbuilt in `out`."""
    ckpt.check_stages(skip)
    unbuilt = {n for n in skip if not ckpt.is_complete(Path(out) / n)}
    needs = NEEDS | {"orm": () if cfg.orm.samples else NEEDS["orm"]}   # an ORM on its own samples reads no labels
    for name in ckpt.STAGES:
        lacking = [n for n in needs.get(name, ()) if n in unbuilt]
        if name not in unbuilt and not ckpt.is_complete(Path(out) / name) and lacking:
            raise ValueError(f"stage {name} needs {', '.join(lacking)}, which --skip leaves unbuilt in {out}; "
                             f"skip {name} too")
    lacking = sorted(unbuilt & ({"sft", "verifier", "prm", "orm"} if export else {"sft"}))
    if lacking:
        raise ValueError(f"{'the export to assets' if export else 'the generator pick'} needs {', '.join(lacking)}, "
                         f"which --skip leaves unbuilt in {out}")


def run_pipeline(cfg: PipelineConfig, out: str | Path, assets: str | Path | None = None,
                 skip: Sequence[str] = ()) -> dict:
    """All stages in order, skipping those already complete; optionally copy the results to `assets`. Stages
    named in `skip` do not run (`check_skip`: nothing left to run may need one); a complete output of one is
    still read and still competes as the generator."""
    check_skip(cfg, out, skip, export=assets is not None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    def policy() -> Path:
        """The generator the later stages start from: STaR's output where it beat plain SFT (`shows_gain`)."""
        return out / lineage_pick(out, ["sft", "star"])

    plan = [
        ("sft", lambda: run_sft(cfg, out / "sft")),
        ("verifier", lambda: run_verifier(cfg, out / "sft", out / "verifier")),
        ("star", lambda: run_star(cfg, out / "sft", out / "star", verifier=out / "verifier")),
        ("labels", lambda: run_label(cfg, policy(), out / "labels")),
        ("prm", lambda: run_prm(cfg, policy(), out / "labels", out / "prm")),
        ("orm", lambda: run_orm(cfg, policy(), out / "labels", out / "orm")),
        # GRPO's step rewards come from the verifier (step AUC ~0.99), not the token PRM (~0.85)
        ("grpo", lambda: run_grpo(cfg, policy(), out / "grpo", prm=out / "verifier", orm=out / "orm")),
    ]
    assert [name for name, _ in plan] == list(ckpt.STAGES)
    summary = {}
    for name, stage in plan:
        if name in skip and not ckpt.is_complete(out / name):
            logger.info("stage %s: skipped (--skip)", name)
            continue
        if ckpt.is_complete(out / name):
            logger.info("stage %s: complete output found in %s, skipping", name, out / name)
            summary[name] = ckpt.read_meta(out / name)["metrics"]
            continue
        logger.info("stage %s: running", name)
        summary[name] = stage()
        logger.info("stage %s: %s", name, summary[name])
    summary["generator"] = pick_generator(out, ["sft", "star", "grpo"])
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if assets is not None:
        export_assets(out, Path(assets))
    return summary


def summary_table(summary: dict):
    """One row per stage with its headline numbers (a pandas DataFrame, for the CLI)."""
    import pandas as pd

    keys = ("val_greedy_acc", "test_greedy_acc", "val_greedy_acc_before", "step_auc_vs_check_steps",
            "outcome_auc", "chain_accuracy", "wall_s", "selected")
    rows = []
    for stage, m in summary.items():
        row = {"stage": stage, **{k: m.get(k) for k in keys if k in m}}
        for method in ("math_shepherd", "omega_prm"):
            if method in m:
                row[f"{method}_agreement"] = m[method]["step_agreement"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("stage")


def export_assets(out: Path, assets: Path) -> None:
    """Copy generator, PRM, ORM and verifier folders (weights, tokenizer, cards, meta only) into `assets`,
    then pick the app's examples for them (the old ones were solved by other models)."""
    for name in ("generator", "prm", "orm", "verifier"):
        with ckpt.atomic_dir(assets / name) as tmp:
            shutil.copytree(out / name, tmp, dirs_exist_ok=True)
        logger.info("exported %s -> %s", out / name, assets / name)
    logger.info("picked %d examples", len(pick_examples(assets)))

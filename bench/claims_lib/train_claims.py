"""Claims that train small variants with training/'s own stage functions and configs (small step
counts from `Sizes`): 1 CoT vs direct, 2 STaR (+/- rationalisation), 3 verifier reranking with an ORM
trained as Cobbe et al. did, 5 MC vs exact process labels, 8 GRPO against the PRM vs the ORM. Every
generator variant is evaluated greedily on the same test problems."""
from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px

from reasoning_core.tasks import check_steps

from .context import Context, Sizes, task_names
from .report import Row, save_claim
from .search_claims import curve_figure, curve_rows, ranking, sample_pool, wrong_picks
from .stats import bootstrap, effect, mean_ci, nanmean, paired_diff

Progress = Callable[[Iterable], Iterable]


def greedy_hits(model, tok, examples) -> np.ndarray:
    """Per test problem: does the greedy chain state the reference answer (training's own sampler)."""
    from training.sampling import TASK, chain_answer, sample_chains

    chains = sample_chains(model, tok, [e.problem for e in examples], 1, temperature=0.0, desc="greedy eval")
    return np.array([TASK.is_correct(chain_answer(c[0]), e.reference) for c, e in zip(chains, examples)], float)


def _load(path: Path):
    from training.pipeline import load_generator

    return load_generator(path)


def _fresh(path: Path) -> None:
    """Stage functions skip nothing themselves, but they write atomically into a new folder."""
    if path.exists():
        shutil.rmtree(path)


def _arm_table(arms: dict[str, np.ndarray], ctx: Context) -> pd.DataFrame:
    rows = []
    for arm, hits in arms.items():
        acc, lo, hi = mean_ci(hits, n_boot=ctx.sizes.n_boot, seed=ctx.seed)
        rows.append({"arm": arm, "accuracy": acc, "ci_low": lo, "ci_high": hi, "problems": len(hits)})
    return pd.DataFrame(rows)


def _arm_figure(table: pd.DataFrame, title: str):
    fig = px.bar(table, x="arm", y="accuracy", title=title, error_y=table.ci_high - table.accuracy,
                 error_y_minus=table.accuracy - table.ci_low)
    fig.update_yaxes(range=[0, 1.02])
    return fig


# ------------------------------------------------------------------------------------------ claim 1
def mean_tokens(tok, dataset) -> float:
    """Mean tokens of a row (prompt + completion)."""
    return float(np.mean([len(tok(r["prompt"] + r["completion"])["input_ids"]) for r in dataset]))


def cot_mix():
    """Claim 1's problems: the one-digit arithmetic levels (1-4 operations). A from-scratch generator learns
    them within the run; on the whole default mix it needs about 90 minutes of SFT before it reads a word
    problem at all (docs/findings.md), so both arms would score zero."""
    from training.config import TaskMix

    return TaskMix(weights={"arith": 1.0}, levels={"arith": [1, 2, 3, 4]})


COT, DIRECT = "step by step (CoT)", "direct answer"


CONVERGED_WITHIN = 0.05   # doubling the tokens adds less accuracy than this, and lowers the loss by less (relative)


def convergence(low: float, high: float, loss_half: float, loss_full: float) -> str:
    """What doubling an arm's training tokens says of its convergence: the accuracy gain's interval, and
    the final train loss of each run (a loss still falling means not converged, whatever a small test
    set's accuracy shows: an arm that has not learned the task sits at zero either way)."""
    if low > 0 or loss_full < (1 - CONVERGED_WITHIN) * loss_half:
        return f"still learning: not converged (final train loss {loss_half} -> {loss_full})"
    if high < CONVERGED_WITHIN:
        return (f"converged: doubling the tokens adds less than {CONVERGED_WITHIN:.2f} accuracy (final train loss "
                f"{loss_half} -> {loss_full})")
    return f"not shown either way at this size (final train loss {loss_half} -> {loss_full})"


def _level_table(hits: dict[tuple[str, str], np.ndarray], levels: np.ndarray, ctx: Context) -> pd.DataFrame:
    """Accuracy of each (arm, budget) over all test problems (with its interval) and per level."""
    rows = []
    for (arm, budget), h in hits.items():
        acc, lo, hi = mean_ci(h, **ctx.boot)
        rows.append({"arm": arm, "budget": budget, "bin": "all", "accuracy": acc, "ci_low": lo, "ci_high": hi,
                     "problems": len(h)})
        rows += _level_rows(h, levels, arm=arm, budget=budget)
    return pd.DataFrame(rows)


def accuracy_by_level(hits: np.ndarray, levels: np.ndarray) -> dict[int, float]:
    """Accuracy on each level's (operations') problems."""
    return {int(lv): float(hits[levels == lv].mean()) for lv in sorted(set(levels))}


def _level_rows(hits: np.ndarray, levels: np.ndarray, **key) -> list[dict]:
    """One table row per level: `key`'s columns, the level's bin, its accuracy and problems."""
    return [{**key, "bin": f"arith {lv}", "accuracy": acc, "problems": int((levels == lv).sum())}
            for lv, acc in accuracy_by_level(hits, levels).items()]


def _cot_plan(ctx: Context):
    """Claim 1's training plan: the config (the default architecture on `cot_mix`), each arm's mean tokens
    per row, the steps of each (arm, budget) at equal training tokens, and each arm's rows."""
    from datasets import Dataset

    from training.data import completion_text, mix_problems, sft_dataset
    from training.tokenizer import build_tokenizer

    cfg, s = ctx.pipeline_config(), ctx.sizes
    cfg.mix = cot_mix()

    def rows(count: int):
        """The first `count` SFT problems of the mix: gold chains, and the same with the answer alone."""
        data = sft_dataset(mix_problems(cfg.mix, "train", min(cfg.sft_problems, count), seed=cfg.seed))
        return data, Dataset.from_list([{"prompt": r["prompt"], "completion": completion_text(
            [r["completion"].split("\n")[-1]])} for r in data])

    tok = build_tokenizer(cfg.model.max_positions)
    per_row = dict(zip((COT, DIRECT), (mean_tokens(tok, d) for d in rows(2000))))
    budgets = {"half": s.sft_steps // 2, "full": s.sft_steps}   # in CoT steps; the direct arm matches its tokens
    steps = {(arm, b): max(1, round(cot_steps * per_row[COT] / per_row[arm]))
             for b, cot_steps in budgets.items() for arm in (COT, DIRECT)}
    data = dict(zip((COT, DIRECT), rows(max(steps.values()) * cfg.sft.batch_size)))
    return cfg, per_row, steps, data


def _train_arm(ctx: Context, cfg, data, steps: int):
    """A generator of the default architecture trained from scratch on `data` for `steps`: (model, tok,
    final train loss)."""
    import torch

    from training.sft import build_generator, train_sft

    torch.manual_seed(ctx.seed)
    model, tok = build_generator(cfg.model)
    # random batches: the preset's length-grouped ones give one level per batch here, which learns slower
    # (train loss 1.10 against 0.85 after 300 steps)
    train = dataclasses.replace(cfg.sft, max_steps=steps, seed=ctx.seed, max_wall_s=None, group_by_length=False)
    loss = train_sft(model, tok, data, train, str(ctx.claim_dir("claim1") / "trainer"))["final_loss"]
    return model, tok, loss


def _save_cot(ctx: Context, cfg, model, tok, loss: float, steps: int) -> Path:
    from training import checkpoint as ckpt

    path = ctx.claim_dir("claim1") / "cot_full"
    with ckpt.atomic_dir(path) as tmp:
        ckpt.save_checkpoint(tmp, model, tok, stage="sft", kind="generator", parent=None, config=cfg.to_dict(),
                             metrics={"steps": steps, "seed": ctx.seed, "final_loss": loss})
    return path


def cot_generator(ctx: Context) -> Path:
    """Claim 1's step-by-step generator at the full budget, as claim 1 saved it in this run's work folder
    (trained here when claim 2 runs without claim 1, or the saved one was trained to other sizes)."""
    from training import checkpoint as ckpt

    path, full = ctx.claim_dir("claim1") / "cot_full", max(1, ctx.sizes.sft_steps)   # the CoT arm's full budget
    saved = ckpt.read_meta(path).get("metrics", {}) if (path / ckpt.META).is_file() else {}
    if (saved.get("steps"), saved.get("seed")) != (full, ctx.seed):
        cfg, _, steps, data = _cot_plan(ctx)
        model, tok, loss = _train_arm(ctx, cfg, data[COT], steps[COT, "full"])
        _save_cot(ctx, cfg, model, tok, loss, steps[COT, "full"])
    return path


def claim_cot(ctx: Context, progress: Progress = iter) -> list[Row]:
    """1. Wei et al. 2022 / Kojima et al. 2022: step-by-step answers beat direct answers. Two generators of
    the default architecture, trained from scratch on the same problems (`cot_mix`) with the same training
    compute (the direct arm, whose rows are shorter, takes as many more steps as it needs to read as many
    tokens); only the completion differs (gold steps + answer line vs the answer line alone). Each arm is
    also trained on half the tokens: an arm whose accuracy and final loss no longer move with the second
    half has converged (`convergence`), and the report says whether both arms had. The full-budget CoT
    generator is saved for claim 2 (`cot_generator`)."""
    from training.data import mix_problems

    cfg, per_row, steps, data = _cot_plan(ctx)
    test = mix_problems(cfg.mix, "test", ctx.sizes.test_problems)
    hits, losses = {}, {}
    for arm, budget in progress(list(steps)):
        model, tok, losses[arm, budget] = _train_arm(ctx, cfg, data[arm], steps[arm, budget])
        hits[arm, budget] = greedy_hits(model, tok, test)
        if (arm, budget) == (COT, "full"):
            _save_cot(ctx, cfg, model, tok, losses[arm, budget], steps[arm, budget])
    levels = np.array([e.difficulty for e in test])
    table = _level_table(hits, levels, ctx).assign(
        train_steps=lambda t: [steps[k] for k in zip(t.arm, t.budget)],
        train_loss=lambda t: [losses[k] for k in zip(t.arm, t.budget)],
        tokens_per_row=lambda t: t.arm.map(per_row),
        train_tokens=lambda t: t.train_steps * cfg.sft.batch_size * t.tokens_per_row)
    fig = px.line(table, x="train_tokens", y="accuracy", color="arm", facet_col="bin", markers=True,
                  hover_data=["train_steps", "train_loss", "problems"],
                  title="Claim 1: greedy test accuracy against training tokens (half and full budget), all "
                        "problems and per level (operations)")
    fig.update_yaxes(range=[0, 1.02])
    save_claim(ctx.out, "claim1_cot_vs_direct", table, fig)
    cot, direct = hits[COT, "full"], hits[DIRECT, "full"]
    tasks = task_names(test)
    gains = {arm: effect(paired_diff(hits[arm, "full"], hits[arm, "half"]), tasks, **ctx.boot) for arm in (COT, DIRECT)}
    cot_levels, direct_levels = accuracy_by_level(cot, levels), accuracy_by_level(direct, levels)
    by_level = ", ".join(f"level {lv}: {acc:.2f} vs {direct_levels[lv]:.2f}" for lv, acc in cot_levels.items())
    diagnosis = ("Convergence (full minus half budget, paired): " + "; ".join(
        f"{arm} {g['effect']:+.3f} [{g['ci_low']:+.3f}, {g['ci_high']:+.3f}] "
        f"({convergence(g['ci_low'], g['ci_high'], losses[arm, 'half'], losses[arm, 'full'])})"
        for arm, g in gains.items()) + f". CoT vs direct by level (operations): {by_level}.")
    full = {arm: steps[arm, "full"] for arm in (COT, DIRECT)}
    return [Row("1 CoT vs direct", "Wei et al. 2022; Kojima et al. 2022", "CoT > direct answer",
                "greedy test accuracy, CoT - direct",
                f"one-digit arithmetic (levels 1-4), from scratch, same architecture ({cfg.model.hidden_size}d x "
                f"{cfg.model.num_layers} layers) and training tokens: CoT {full[COT]} steps of "
                f"{cfg.sft.batch_size} rows of {per_row[COT]:.0f} tokens, direct {full[DIRECT]} steps of "
                f"{per_row[DIRECT]:.0f}; CoT {cot.mean():.3f} vs direct {direct.mean():.3f} (final train loss "
                f"{losses[COT, 'full']} vs {losses[DIRECT, 'full']}); at half the tokens CoT "
                f"{hits[COT, 'half'].mean():.3f}, direct {hits[DIRECT, 'half'].mean():.3f}.",
                diagnosis=diagnosis, **effect(paired_diff(cot, direct), tasks, **ctx.boot))]


# ------------------------------------------------------------------------------------------ claim 2
def star_config(star, s: Sizes):
    """The preset's STaR stage at the run's size, trained on the model's own chains alone, as the paper's
    was: replaying gold chains beside them would credit STaR with what they teach."""
    return dataclasses.replace(star, rounds=s.star_rounds, problems=s.star_problems, replay_rows=0,
                               train=dataclasses.replace(star.train, max_steps=s.star_steps))


def claim_star(ctx: Context, progress: Progress = iter) -> list[Row]:
    """2. Zelikman et al. 2022: STaR improves the generator round over round, and rationalisation (hinted
    re-sampling) helps on the problems the model could not solve. The paper's setting: a model that has
    seen few rationales, and question/answer pairs without one. The parent is claim 1's step-by-step
    generator (`cot_generator`, one-digit arithmetic, still learning); each round it samples fresh train
    problems and trains on its own right chains only. Same parent, rounds, problems and steps; only
    `StarConfig.rationalize` differs."""
    from training.data import mix_problems
    from training.pipeline import run_star

    cfg, s = ctx.pipeline_config(), ctx.sizes
    cfg.mix, cfg.star = cot_mix(), star_config(cfg.star, s)
    parent = cot_generator(ctx)
    test = mix_problems(cfg.mix, "test", s.test_problems)
    model, tok = _load(parent)
    metrics, hits = {}, {"parent (round 0)": greedy_hits(model, tok, test)}
    own = own_chains_by_level(model, tok, test, cfg.star, ctx.seed)
    for name, rationalize in progress([("STaR with rationalisation", True), ("STaR without rationalisation", False)]):
        out = ctx.claim_dir("claim2") / ("rationalize" if rationalize else "plain")
        _fresh(out)
        metrics[name] = run_star(dataclasses.replace(cfg, star=dataclasses.replace(cfg.star, rationalize=rationalize)),
                                 parent, out)
        hits[name] = greedy_hits(*_load(out), test)
    rounds = [{"arm": name, **{k: v for k, v in r.items() if not isinstance(v, dict)}}
              for name, m in metrics.items() for r in m["rounds"]]
    levels = np.array([e.difficulty for e in test])
    by_level = pd.DataFrame([row for arm, h in hits.items() for row in _level_rows(h, levels, arm=arm)])
    table = pd.concat([_arm_table(hits, ctx).assign(kind="test greedy accuracy"),
                       by_level.assign(kind="test greedy accuracy by level"),
                       own.reset_index().assign(arm="parent (round 0)", kind="parent's sampled chains by level"),
                       pd.DataFrame(rounds).assign(kind="per-round validation (stage's own eval)")], ignore_index=True)
    fig = px.line(pd.DataFrame(rounds), x="round", y="val_greedy_acc", color="arm", markers=True,
                  title=f"Claim 2: STaR validation greedy accuracy per round ({s.stage_eval} problems)")
    save_claim(ctx.out, "claim2_star", table, fig)
    with_r, without, base = hits["STaR with rationalisation"], hits["STaR without rationalisation"], \
        hits["parent (round 0)"]
    unsolved = base == 0
    rat = [r.get("rationalised", 0) for r in metrics["STaR with rationalisation"]["rounds"][1:]]
    paper = "Zelikman et al. 2022"
    plural = "s" if s.star_rounds != 1 else ""
    detail = (f"{s.star_rounds} round{plural} x {s.star_problems} fresh train problems, {s.star_steps} SFT steps per "
              f"round on the model's own right chains alone, from claim 1's step-by-step generator (one-digit "
              f"arithmetic). Test greedy accuracy: parent {base.mean():.3f}, with "
              f"rationalisation {with_r.mean():.3f}, without {without.mean():.3f}. Problems added by rationalisation "
              f"per round: {rat}.")
    tasks = np.array(task_names(test))
    right = own["right"].sum()
    what = ", ".join(f"level {lv}: {r.right} of {r.chains} ({r.sound} sound)" for lv, r in own.iterrows())
    before, after = accuracy_by_level(base, levels), accuracy_by_level(with_r, levels)
    acc = "; ".join(f"level {lv}: {was:.2f} -> {after[lv]:.2f}" for lv, was in before.items())
    learns = (f" What STaR can learn from: sampled as a round samples ({cfg.star.samples} chains at T="
              f"{cfg.star.temperature} for each test problem), the parent's right-answer chains by level (operations) "
              f"are {what}; {own['right'].iloc[0] / max(1, right):.0%} of them solve level {own.index[0]}, and a "
              f"chain is sound when every step passes the exact checker. Greedy accuracy by level, parent -> STaR "
              f"with rationalisation: {acc}.")
    return [Row("2a STaR rounds", paper, "STaR (final round) > parent", "greedy test accuracy, final - parent",
                detail, diagnosis=_star_diagnosis(metrics["STaR with rationalisation"], with_r, base, "the parent")
                + learns,
                **effect(paired_diff(with_r, base), list(tasks), **ctx.boot)),
            Row("2b STaR rationalisation", paper, "with > without rationalisation, on problems the parent failed",
                "greedy accuracy on parent-failed test problems, with - without", detail,
                diagnosis=_star_diagnosis(metrics["STaR without rationalisation"], with_r[unsolved],
                                          without[unsolved], "STaR without rationalisation"),
                **effect(paired_diff(with_r[unsolved], without[unsolved]), list(tasks[unsolved]), **ctx.boot))]


def own_chains_by_level(model, tok, examples, star, seed: int) -> pd.DataFrame:
    """What a STaR round can train on, by level: the parent's chains sampled as the round samples them, how
    many reach the reference answer (`right`, what STaR keeps) and how many of those are right at every step
    by the exact checker (`sound`)."""
    from training.sampling import TASK, chain_answer, sample_chains

    chains = sample_chains(model, tok, [e.problem for e in examples], star.samples, temperature=star.temperature,
                           seed=seed, desc="STaR's own chains")
    rows = []
    for ex, group in zip(examples, chains):
        for c in group:
            right = bool(c.steps) and TASK.is_correct(chain_answer(c), ex.reference)
            rows.append({"level": ex.difficulty, "right": right,
                         "sound": right and all(check_steps(ex.problem, c.steps))})
    return pd.DataFrame(rows).groupby("level").agg(chains=("right", "size"), right=("right", "sum"),
                                                   sound=("sound", "sum"))


def _star_diagnosis(metrics: dict, after: np.ndarray, before: np.ndarray, against: str) -> str:
    """How much of each round's training was the model's own chains, and how many test problems the arm
    gained and lost against `against` (a difference of a few flips is what a small test set cannot show)."""
    own = "; ".join(f"round {r['round']}: {r.get('train_rows', 0)} own chains of {r.get('trained_on', 0)} rows "
                    f"({r.get('solved_by_sampling', 0)} of {r.get('problems', 0)} problems solved by sampling)"
                    for r in metrics["rounds"][1:])
    return f"Training data per round: {own}. Against {against}, on the same test problems, it {flips(after, before)}."


def flips(after: np.ndarray, before: np.ndarray) -> str:
    """The paired comparison in counts: a difference of a few problems is what a small test set cannot show."""
    from training.sampling import paired_test

    counts = paired_test(before.astype(int).tolist(), after.astype(int).tolist())
    gained, lost = counts["gained"], counts["lost"]
    return f"gains {gained} problem{'s' * (gained != 1)} and loses {lost}"


# ------------------------------------------------------------------------------------------ claim 3
COBBE = "ORM best-of-n (Cobbe recipe)"


def cobbe_orm(ctx: Context, pool) -> tuple[np.ndarray, dict]:
    """Claim 3's ORM, trained as Cobbe et al. trained theirs (`training.pipeline.run_orm` with
    `RewardConfig.samples`): many sampled chains per train problem, each labelled by its final answer, the
    checkpoint chosen on its within-problem ranking of held-back problems. Its score for every chain of the
    pool, and its stage metrics; trained once per run."""
    if "cobbe_orm" not in ctx.cache:
        from reasoning_core.rewards import load as load_reward
        from training.pipeline import run_orm

        cfg, s = ctx.pipeline_config(), ctx.sizes
        cfg.orm = dataclasses.replace(cfg.orm, samples=s.orm_samples, problems=s.orm_problems,
                                      max_steps=s.orm_steps, select_every=max(1, s.orm_steps // 4))
        out = ctx.claim_dir("claim3") / "orm"
        _fresh(out)
        metrics = run_orm(cfg, ctx.models["generator"], None, out)
        orm = load_reward(str(out))
        scores = np.array([[row[-1] if row else 0.0 for row in orm.score(ex.problem, chains)]
                           for ex, chains in zip(pool.problems, pool.steps)])
        ctx.cache["cobbe_orm"] = (scores, metrics)
    return ctx.cache["cobbe_orm"]


def _diagnosis(pool, scores: np.ndarray, name: str) -> str:
    """Why a verifier's best-of-n falls where it does: its ranking pooled and within problems, and what
    its wrong top picks look like."""
    rank, wrong = ranking(pool, scores), wrong_picks(pool, scores)
    text = (f"{name} ranks chains at AUC {rank['pooled_auc']} pooled and {rank['within_problem_auc']} within "
            f"problems ({rank['problems_with_both']} problems with right and wrong chains)")
    if wrong["problems"]:
        text += (f"; on the {wrong['problems']} problems where its pick is wrong though a right chain was sampled, "
                 f"the pick has {wrong['pick_tokens']} tokens and {wrong['pick_steps']} steps against the right "
                 f"chains' {wrong['right_tokens']} and {wrong['right_steps']}, and {wrong['pick_no_answer']:.0%} "
                 "of the picks state no answer")
    return text


def claim_verifier(ctx: Context, progress: Progress = iter) -> list[Row]:
    """3. Cobbe et al. 2021: reranking N samples with an outcome verifier beats the generator alone. The
    verifier is trained their way (`cobbe_orm`); the shipped ORM (trained on the label stage's chains)
    is drawn beside it."""
    pool, s = sample_pool(ctx, progress), ctx.sizes
    scores, metrics = cobbe_orm(ctx, pool)
    table = curve_rows(pool, s.n_boot, ctx.seed, {COBBE: scores})
    save_claim(ctx.out, "claim3_verifier_reranking", table, curve_figure(
        table, ["greedy", "majority vote", COBBE, "ORM best-of-n", "random pick", "oracle (pass@n)"],
        "Claim 3: ORM best-of-n vs greedy vs majority vote, between a random pick and the oracle"))
    n = pool.correct.shape[1]
    orm = pool.best_of(scores, n)
    at = table[table.n == n].set_index("arm")["accuracy"]
    length = ranking(pool, -pool.tokens.astype(float))
    detail = (f"test accuracy at N={n}: ORM best-of-N {at[COBBE]:.3f} (trained on {metrics.get('train_chains')} "
              f"chains, {s.orm_samples} per problem; checkpoint of step {metrics.get('selected_step')} chosen on "
              f"{metrics.get('selection_chains')} held-back chains), the shipped ORM {at['ORM best-of-n']:.3f}, "
              f"majority vote {at['majority vote']:.3f}, greedy {at['greedy']:.3f}, a random pick "
              f"{at['random pick']:.3f}; oracle pass@{n} {at['oracle (pass@n)']:.3f}.")
    diagnosis = ("The " + _diagnosis(pool, scores, "ORM") + "; the shipped " + _diagnosis(pool, pool.orm, "ORM")
                 + f"; fewer tokens alone ranks at {length['pooled_auc']} / {length['within_problem_auc']}. A "
                 f"reranker at chance within problems picks like the random pick ({at['random pick']:.3f}).")
    paper = "Cobbe et al. 2021"
    return [Row("3a verifier reranking", paper, "ORM best-of-N > greedy", f"accuracy, ORM@{n} - greedy",
                detail, diagnosis=diagnosis, **effect(paired_diff(orm, pool.greedy), pool.tasks, **ctx.boot)),
            Row("3b verifier reranking", paper, "ORM best-of-N > majority vote",
                f"accuracy, ORM@{n} - majority@{n}", detail, diagnosis=diagnosis,
                **effect(paired_diff(orm, pool.majority(n)), pool.tasks, **ctx.boot))]


# ------------------------------------------------------------------------------------------ claim 5
def _exact_labels(labels: Path, out: Path) -> dict:
    """A copy of the MC label folder whose chains keep their text but get `check_steps` labels, so the
    exact-label PRM trains on the same chains, steps and budget (the file name is what run_prm reads)."""
    from training.data import stepwise_row

    out.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (labels / "math_shepherd.jsonl").read_text().splitlines() if line.strip()]
    pairs = []   # (exact, MC) label of every step
    with open(out / "math_shepherd.jsonl", "w") as f:
        for r in rows:
            gold = check_steps(r["prompt"], r["completions"])
            pairs += zip(gold, r["labels"])
            f.write(json.dumps(stepwise_row(r["prompt"], r["completions"], gold, reference=r["reference"])) + "\n")
    total = max(1, len(pairs))
    return {"chains": len(rows), "steps": len(pairs),
            "mc_agreement_with_exact": round(sum(g == m for g, m in pairs) / total, 4),
            "mc_wrong_on_right_steps": sum(g and not m for g, m in pairs),
            "mc_right_on_wrong_steps": sum(m and not g for g, m in pairs),
            "exact_wrong_steps": sum(not g for g, _ in pairs)}


def claim_process_labels(ctx: Context, progress: Progress = iter) -> list[Row]:
    """5. Math-Shepherd / OmegaPRM: a PRM trained on automatic Monte-Carlo labels is about as good as one
    trained on exact labels of the same chains with the same budget (step AUC and best-of-N)."""
    from sklearn.metrics import roc_auc_score

    from reasoning_core.rewards import load as load_reward
    from training.pipeline import run_label, run_prm
    from training.reward_eval import per_problem_auc

    cfg, s = ctx.pipeline_config(), ctx.sizes
    cfg.label = dataclasses.replace(cfg.label, problems=s.label_problems, rollouts=s.label_rollouts)
    cfg.prm = dataclasses.replace(cfg.prm, max_steps=s.prm_steps, label_source="math_shepherd")
    parent, work = ctx.models["generator"], ctx.claim_dir("claim5")
    labels, exact = work / "labels_mc", work / "labels_exact"
    for path in (labels, exact, work / "prm_mc", work / "prm_exact"):
        _fresh(path)
    label_metrics = run_label(cfg, parent, labels)
    exact_stats = _exact_labels(labels, exact)
    prm_metrics = {"MC labels (Math-Shepherd)": run_prm(cfg, parent, labels, work / "prm_mc"),
                   "exact labels (check_steps)": run_prm(cfg, parent, exact, work / "prm_exact")}
    pool = sample_pool(ctx, progress)
    per_problem, bon = {}, {}
    for name, folder in zip(prm_metrics, (work / "prm_mc", work / "prm_exact")):
        prm = load_reward(str(folder))
        scores, gold, values = [], [], []
        for ex, chains in zip(pool.problems, pool.steps):
            rows = prm.score(ex.problem, chains)
            scores.append([x for row in rows for x in row])
            gold.append([g for ch in chains for g in check_steps(ex.problem, ch)])
            values.append([min(row) if row else 0.0 for row in rows])  # aggregation "min", as the search uses
        per_problem[name] = (scores, gold)
        bon[name] = pool.best_of(np.array(values), pool.correct.shape[1]).astype(float)

    def pooled_auc(name: str) -> float:
        scores, gold = per_problem[name]
        return float(roc_auc_score([g for row in gold for g in row], [v for row in scores for v in row]))

    # within problems, as issue 18 judges a PRM: a pooled AUC also ranks steps of different problems and
    # tasks against each other, which rewards knowing how hard a problem is and no search ever needs
    within = {name: per_problem_auc(gold, scores) for name, (scores, gold) in per_problem.items()}

    def auc_of(name: str, idx: np.ndarray) -> float:
        return nanmean(within[name][idx])

    mc, ex_ = list(prm_metrics)
    n = len(pool.problems)
    aucs = {name: bootstrap(lambda idx, name=name: auc_of(name, idx), n, **ctx.boot) for name in prm_metrics}
    pooled = {name: pooled_auc(name) for name in prm_metrics}
    table = pd.DataFrame([{"arm": name, "step_auc_within_problems": aucs[name][0], "auc_ci_low": aucs[name][1],
                           "auc_ci_high": aucs[name][2], "step_auc_pooled": pooled[name],
                           "problems_with_both": int((~np.isnan(within[name])).sum()),
                           f"best_of_{pool.correct.shape[1]}_accuracy": bon[name].mean(),
                           "stage_step_auc": prm_metrics[name].get("step_auc_vs_check_steps"),
                           "train_chains": prm_metrics[name].get("train_chains"), "prm_steps": s.prm_steps}
                          for name in prm_metrics])
    table = pd.concat([table, pd.DataFrame([{"arm": "labels", **exact_stats,
                                             "math_shepherd_step_agreement":
                                                 label_metrics["math_shepherd"]["step_agreement"],
                                             "chain_accuracy": label_metrics["chain_accuracy"]}])], ignore_index=True)
    fig = px.bar(table[table.arm != "labels"], x="arm", y="step_auc_within_problems",
                 title="Claim 5: within-problem step AUC vs the exact checker on the test sample pool",
                 error_y=table.auc_ci_high[:2] - table.step_auc_within_problems[:2],
                 error_y_minus=table.step_auc_within_problems[:2] - table.auc_ci_low[:2])
    save_claim(ctx.out, "claim5_process_labels", table, fig)
    detail = (f"{exact_stats['chains']} labelled chains ({s.label_problems} problems, {s.label_rollouts} rollouts per "
              f"step); MC labels agree with the exact checker on {exact_stats['mc_agreement_with_exact']:.3f} of "
              f"{exact_stats['steps']} steps; each PRM trained {s.prm_steps} steps from the default generator. "
              f"Step AUC within problems (mean over the {int((~np.isnan(within[mc])).sum())} pool problems with right "
              f"and wrong steps) MC {aucs[mc][0]:.3f} [{aucs[mc][1]:.3f}, {aucs[mc][2]:.3f}] vs exact "
              f"{aucs[ex_][0]:.3f}; pooled over all steps MC {pooled[mc]:.3f} vs exact {pooled[ex_]:.3f}; "
              f"best-of-{pool.correct.shape[1]} accuracy MC {bon[mc].mean():.3f} vs exact {bon[ex_].mean():.3f}.")
    diagnosis = (f"Of the {exact_stats['steps']} labelled steps, {exact_stats['exact_wrong_steps']} are wrong by the "
                 f"exact checker; the Monte-Carlo labels call {exact_stats['mc_wrong_on_right_steps']} right steps "
                 f"wrong (no rollout of {s.label_rollouts} from them reached the answer) and "
                 f"{exact_stats['mc_right_on_wrong_steps']} wrong steps right (a rollout reached the answer "
                 f"anyway). Pooled over all the pool's steps the MC PRM ranks at {pooled[mc]:.3f} and the exact one "
                 f"at {pooled[ex_]:.3f} ({pooled[mc] - pooled[ex_]:+.3f}, against {aucs[mc][0] - aucs[ex_][0]:+.3f} "
                 "within problems): what the pooled figure adds is how each PRM ranks steps of different problems "
                 "and tasks against each other.")
    paper = "Wang et al. 2024 (Math-Shepherd); Luo et al. 2024 (OmegaPRM)"
    return [Row("5a automatic process labels", paper, "MC-label PRM ~ exact-label PRM (not worse by > 0.05)",
                "within-problem step AUC, MC - exact", detail, margin=0.05, diagnosis=diagnosis,
                **effect(lambda idx: auc_of(mc, idx) - auc_of(ex_, idx), pool.tasks, **ctx.boot)),
            Row("5b automatic process labels", paper, "MC-label PRM ~ exact-label PRM (not worse by > 0.05)",
                f"best-of-{pool.correct.shape[1]} accuracy, MC - exact", detail, margin=0.05, diagnosis=diagnosis,
                **effect(paired_diff(bon[mc], bon[ex_]), pool.tasks, **ctx.boot))]


# ------------------------------------------------------------------------------------------ claim 8
def claim_grpo(ctx: Context, progress: Progress = iter) -> list[Row]:
    """8. GRPO / OpenR: RL against the PRM improves the generator, more than RL against the ORM. Same
    parent, same settings and steps; only the reward differs."""
    from training.pipeline import run_grpo

    cfg, s = ctx.pipeline_config(), ctx.sizes
    cfg.grpo = dataclasses.replace(cfg.grpo, max_steps=s.grpo_steps, prompts_per_step=s.grpo_prompts,
                                   num_generations=s.grpo_generations, seed=ctx.seed)
    parent, test = ctx.models["generator"], ctx.problems("test", s.test_problems)
    hits, metrics = {"parent": greedy_hits(*_load(parent), test)}, {}
    for reward in progress(["prm", "orm"]):
        out = ctx.claim_dir("claim8") / reward
        _fresh(out)
        settings = dataclasses.replace(cfg, grpo=dataclasses.replace(cfg.grpo, reward=reward))
        metrics[reward] = run_grpo(settings, parent, out, prm=ctx.models["prm"], orm=ctx.models["orm"])
        hits[f"GRPO vs {reward.upper()}"] = greedy_hits(*_load(out), test)
    table = _arm_table(hits, ctx)
    table["reward_first_log"] = table.arm.map(lambda a: metrics.get(a[-3:].lower(), {}).get("reward_first_log"))
    table["reward_last_log"] = table.arm.map(lambda a: metrics.get(a[-3:].lower(), {}).get("reward_last_log"))
    save_claim(ctx.out, "claim8_grpo_prm_vs_orm", table,
               _arm_figure(table, f"Claim 8: greedy test accuracy after {s.grpo_steps} GRPO steps"))
    prm, orm, base = hits["GRPO vs PRM"], hits["GRPO vs ORM"], hits["parent"]
    detail = (f"{s.grpo_steps} GRPO steps x {s.grpo_prompts} prompts x {s.grpo_generations} generations from the "
              f"default generator; test greedy accuracy parent {base.mean():.3f}, PRM-reward {prm.mean():.3f}, "
              f"ORM-reward {orm.mean():.3f}; logged reward first -> last: PRM {metrics['prm'].get('reward_first_log')}"
              f" -> {metrics['prm'].get('reward_last_log')}, ORM {metrics['orm'].get('reward_first_log')} -> "
              f"{metrics['orm'].get('reward_last_log')}.")
    paper = "Shao et al. 2024 (GRPO); Wang et al. 2024 (OpenR)"
    tasks = task_names(test)
    chains = s.grpo_steps * s.grpo_prompts * s.grpo_generations
    diagnosis = (f"Each arm learns from {chains} sampled chains in all ({s.grpo_steps} updates of "
                 f"{s.grpo_prompts * s.grpo_generations}); against the parent the PRM arm {flips(prm, base)}, the "
                 f"ORM arm {flips(orm, base)}.")
    return [Row("8a GRPO vs PRM", paper, "RL against the PRM improves greedy accuracy", "greedy test accuracy, "
                "after - before", detail, diagnosis=diagnosis, **effect(paired_diff(prm, base), tasks, **ctx.boot)),
            Row("8b GRPO PRM vs ORM", paper, "RL against the PRM > RL against the ORM",
                "greedy test accuracy, PRM-reward - ORM-reward", detail, diagnosis=diagnosis,
                **effect(paired_diff(prm, orm), tasks, **ctx.boot))]

"""Claims measured with the default checkpoints and the search engine alone (no training):
4 PRM vs ORM, 6 compute vs difficulty, 7 MCTS / rStar; the sample pool, its rerankers and the verifier
diagnosis that claim 3 (in train_claims.py: it trains its ORM) reads too.

Claims 3, 4, 5 and 7 share one *sample pool*: `n_max` chains per test problem from the engine's
best_of_n (so every strategy and verifier is compared on the same samples, same seeds); best-of-n
for smaller n reranks the first n of them (they are independent draws)."""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from reasoning_core.budget import Budget
from reasoning_core.eval import EvalSpec, evaluate
from reasoning_core.run import solve
from reasoning_core.search import Problem, Search, make_config
from reasoning_core.search.rstar import discriminate

from .context import Context, task_names
from .report import Row, save_claim
from .stats import effect, mean_ci, paired_diff, ratio_diff

Progress = Callable[[Iterable], Iterable]


@dataclass
class Pool:
    """`n_max` sampled chains per test problem, with answers, grades, tokens and verifier scores."""

    problems: list            # Example
    steps: list               # [problem][chain] -> list of step texts
    answers: list             # [problem][chain] -> answer or None
    correct: np.ndarray       # (problems, n_max) bool
    tokens: np.ndarray        # (problems, n_max) generated tokens per chain
    prm: np.ndarray           # (problems, n_max) PRM value (min over steps) from the search
    orm: np.ndarray           # (problems, n_max) ORM P(correct)
    greedy: np.ndarray        # (problems,) greedy chain correct
    tasks: list[str]          # (problems,) each problem's task

    def n_values(self) -> list[int]:
        n_max = self.correct.shape[1]
        return sorted({2 ** k for k in range(int(np.log2(n_max)) + 1)} | {n_max})

    def best_of(self, scores: np.ndarray, n: int) -> np.ndarray:
        """Per problem: is the highest-scored of the first n chains correct (ties: the earliest)?"""
        pick = np.argmax(scores[:, :n], axis=1)
        return self.correct[np.arange(len(pick)), pick]

    def majority(self, n: int) -> np.ndarray:
        return np.array([majority_right(answers[:n], correct[:n])
                         for answers, correct in zip(self.answers, self.correct)])


def majority_right(answers: list, correct) -> bool:
    """Whether the most common stated answer among one problem's chains is right (ties: the first seen; no
    answer stated: wrong)."""
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return False
    top = max(votes.values())
    winner = next(a for a in answers if a is not None and votes[a] == top)
    return bool(correct[answers.index(winner)])


def sample_pool(ctx: Context, progress: Progress = iter) -> Pool:
    """Build (once per run) the shared pool on the test problems."""
    if "pool" in ctx.cache:
        return ctx.cache["pool"]
    gen, prm, orm, task = ctx.model("generator"), ctx.model("prm"), ctx.model("orm"), ctx.task
    examples = ctx.problems("test", ctx.sizes.test_problems)
    steps, answers, correct, tokens, prm_v, orm_v, greedy = [], [], [], [], [], [], []
    for i, ex in enumerate(progress(examples)):
        problem = Problem(ex.problem, task, ex.reference)
        result = solve("best_of_n", problem, gen, prm, Budget(),
                       make_config("best_of_n", ctx.sizes.n_max, seed=ctx.seed + i))
        tree = result.tree
        leaves = sorted((n for n in tree.terminals() if n.id != 0), key=lambda n: tree.path(n.id)[0].id)  # sample order
        paths = [tree.path(n.id) for n in leaves]
        steps.append([[n.text for n in p] for p in paths])
        answers.append([n.answer for n in leaves])
        correct.append([task.is_correct(n.answer, ex.reference) for n in leaves])
        tokens.append([sum(n.num_tokens for n in p) for p in paths])
        prm_v.append([n.value if n.value is not None else 0.0 for n in leaves])
        orm_v.append([row[-1] if row else 0.0 for row in orm.score(ex.problem, steps[-1])])
        g = solve("greedy", problem, gen, prm, Budget(), make_config("greedy", seed=ctx.seed))
        greedy.append(bool(g.correct))
    pool = Pool(examples, steps, answers, np.array(correct, bool), np.array(tokens), np.array(prm_v),
                np.array(orm_v), np.array(greedy, bool), task_names(examples))
    ctx.cache["pool"] = pool
    return pool


def curve_rows(pool: Pool, n_boot: int, seed: int,
               rerankers: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Accuracy against n for each reranker (the pool's PRM and ORM, and `rerankers`: name -> scores),
    with the two lines that frame them: a random pick among the first n chains (its expected accuracy)
    and the oracle (pass@n: some chain is right)."""
    rows = []
    for n in pool.n_values():
        arms = {"greedy": pool.greedy, "majority vote": pool.majority(n), "ORM best-of-n": pool.best_of(pool.orm, n),
                "PRM best-of-n": pool.best_of(pool.prm, n), "random pick": pool.correct[:, :n].mean(1),
                "oracle (pass@n)": pool.correct[:, :n].any(1),
                **{name: pool.best_of(scores, n) for name, scores in (rerankers or {}).items()}}
        for arm, hits in arms.items():
            acc, lo, hi = mean_ci(hits, n_boot=n_boot, seed=seed)
            rows.append({"n": n, "arm": arm, "accuracy": acc, "ci_low": lo, "ci_high": hi,
                         "mean_tokens": float(pool.tokens[:, :n].sum(1).mean()) if arm != "greedy" else None,
                         "problems": len(hits)})
    return pd.DataFrame(rows)


def curve_figure(table: pd.DataFrame, arms: list[str], title: str):
    sub = table[table.arm.isin(arms)]
    fig = px.line(sub, x="n", y="accuracy", color="arm", markers=True, log_x=True, title=title,
                  error_y=sub.ci_high - sub.accuracy, error_y_minus=sub.accuracy - sub.ci_low)
    fig.update_yaxes(range=[0, 1.02])
    return fig


def ranking(pool: Pool, scores: np.ndarray) -> dict:
    """How a verifier's scores rank the pool's chains against their correctness: pooled over all chains
    (which rewards knowing how hard a problem is) and within problems (whether it tells a right chain
    from a wrong one of the same problem: what picking among one problem's samples needs)."""
    from training.prm import auc
    from training.reward_eval import within_auc

    within, problems = within_auc([str(i) for i in range(len(scores))], pool.correct.tolist(), scores.tolist())
    return {"pooled_auc": auc(pool.correct.ravel().tolist(), scores.ravel().tolist()),
            "within_problem_auc": within, "problems_with_both": problems}


def wrong_picks(pool: Pool, scores: np.ndarray) -> dict:
    """What the top-scored chain looks like on the problems where it is wrong though a right chain was
    sampled: its generated tokens and steps against the right chains' of the same problems, and the share
    of such picks that state no answer (cut off)."""
    rows = np.arange(len(scores))
    pick = scores.argmax(1)
    missed = np.flatnonzero(~pool.correct[rows, pick] & pool.correct.any(1))
    if not len(missed):
        return {"problems": 0}
    steps = np.array([[len(chain) for chain in chains] for chains in pool.steps])
    right = [pool.correct[i] for i in missed]
    return {"problems": len(missed),
            "pick_tokens": round(float(pool.tokens[missed, pick[missed]].mean()), 1),
            "right_tokens": round(float(np.mean([pool.tokens[i][r].mean() for i, r in zip(missed, right)])), 1),
            "pick_steps": round(float(steps[missed, pick[missed]].mean()), 2),
            "right_steps": round(float(np.mean([steps[i][r].mean() for i, r in zip(missed, right)])), 2),
            "pick_no_answer": round(float(np.mean([pool.answers[i][pick[i]] is None for i in missed])), 3)}


def claim_prm_vs_orm(ctx: Context, progress: Progress = iter) -> list[Row]:
    """4. Lightman et al. 2023: a PRM reranks better than an ORM (same samples, same seeds)."""
    pool, s = sample_pool(ctx, progress), ctx.sizes
    table = curve_rows(pool, s.n_boot, ctx.seed)
    save_claim(ctx.out, "claim4_prm_vs_orm", table, curve_figure(
        table, ["ORM best-of-n", "PRM best-of-n", "majority vote"], "Claim 4: PRM vs ORM best-of-n, same samples"))
    n = pool.correct.shape[1]
    prm, orm = pool.best_of(pool.prm, n), pool.best_of(pool.orm, n)
    wins = [f"n={k}: {pool.best_of(pool.prm, k).mean() - pool.best_of(pool.orm, k).mean():+.3f}"
            for k in pool.n_values()]
    return [Row("4 PRM vs ORM", "Lightman et al. 2023", "PRM best-of-N > ORM best-of-N",
                f"accuracy, PRM@{n} - ORM@{n}", f"PRM {prm.mean():.3f} vs ORM {orm.mean():.3f} at N={n}; "
                "difference by n: " + ", ".join(wins) + ".", diagnosis=verifier_ranks(pool, n),
                **effect(paired_diff(prm, orm), pool.tasks, **ctx.boot))]


def verifier_ranks(pool: Pool, n: int) -> str:
    """How well the pool's PRM and ORM rank right above wrong chains of one problem (what best-of-n and a
    PRM-guided search need), against the oracle's pass@n: a reranker can only pick a right chain where
    one was sampled."""
    prm, orm = ranking(pool, pool.prm), ranking(pool, pool.orm)
    return (f"Within problems that have right and wrong chains ({prm['problems_with_both']}), the PRM ranks at AUC "
            f"{prm['within_problem_auc']} and the ORM at {orm['within_problem_auc']} (pooled: "
            f"{prm['pooled_auc']} and {orm['pooled_auc']}); pass@{n} is {pool.correct[:, :n].any(1).mean():.3f}.")


STRATEGIES_6 = ("beam_search", "best_of_n", "revise")


def _binned(runs: pd.DataFrame, examples) -> pd.DataFrame:
    """The runs with each problem's difficulty bin: its task and level ("arith 3"), since a level means
    something else in each task."""
    tasks = task_names(examples)
    return runs.assign(task=[tasks[i] for i in runs.problem],
                       bin=[f"{tasks[i]} {d}" for i, d in zip(runs.problem, runs.difficulty)])


def _per_bin(runs: pd.DataFrame, split: str) -> pd.DataFrame:
    return (runs.groupby(["bin", "strategy"])
            .agg(accuracy=("correct", "mean"), mean_tokens=("generated_tokens", "mean"), problems=("correct", "size"))
            .reset_index().assign(split=split))


def claim_difficulty(ctx: Context, progress: Progress = iter) -> list[Row]:
    """6. Snell et al. 2024: the best test-time strategy depends on difficulty, so choosing per difficulty
    bin (task and level; on validation) beats the best single strategy at the same budget, on test."""
    s, gen, prm, task = ctx.sizes, ctx.model("generator"), ctx.model("prm"), ctx.task
    val, test = ctx.problems("validation", s.val_problems), ctx.problems("test", s.co_problems)
    spec = EvalSpec(list(STRATEGIES_6), [s.size], ctx.seed)
    val_runs = _binned(evaluate(spec, val, task, gen, prm, progress)[1], val)
    test_runs = _binned(evaluate(EvalSpec(list(STRATEGIES_6) + ["compute_optimal"], [s.size], ctx.seed), test, task,
                                 gen, prm, progress)[1], test)
    val_acc = val_runs.groupby(["bin", "strategy"])["correct"].mean().unstack("strategy")
    fixed = val_runs.groupby("strategy")["correct"].mean().reindex(STRATEGIES_6).idxmax()
    policy = {b: row.reindex(STRATEGIES_6).idxmax() for b, row in val_acc.iterrows()}
    by = {name: g.sort_values("problem") for name, g in test_runs.groupby("strategy")}
    bins = by[fixed]["bin"].to_numpy()
    adaptive = np.array([by[policy.get(b, fixed)]["correct"].to_numpy()[i] for i, b in enumerate(bins)])
    fixed_hits = by[fixed]["correct"].to_numpy().astype(float)
    co_hits = by["compute_optimal"]["correct"].to_numpy().astype(float)
    table = pd.concat([_per_bin(test_runs, "test"), _per_bin(val_runs, "validation")])
    table["policy_choice"] = [policy.get(b) == st for b, st in zip(table.bin, table.strategy)]
    fig = px.bar(table[table.split == "test"], x="bin", y="accuracy", color="strategy", barmode="group",
                 hover_data=["mean_tokens", "problems"],
                 title=f"Claim 6: test accuracy per difficulty bin (task and level) at size {s.size}")
    save_claim(ctx.out, "claim6_compute_vs_difficulty", table, fig)
    tokens = test_runs.groupby("strategy")["generated_tokens"].mean().round(1).to_dict()
    detail = (f"policy chosen on {len(val)} validation problems (bin -> strategy): {policy}; best fixed strategy "
              f"on validation: {fixed}, which a test bin without validation problems takes. Test accuracy: per-bin "
              f"policy {adaptive.mean():.3f}, {fixed} {fixed_hits.mean():.3f}, compute_optimal strategy "
              f"{co_hits.mean():.3f}. Mean generated tokens per problem on test: {tokens}.")
    paper, tasks = "Snell et al. 2024", list(by[fixed]["task"])
    diagnosis = _policy_diagnosis(val_runs, test_runs[test_runs.strategy.isin(STRATEGIES_6)], policy, fixed)
    return [Row("6a compute-optimal per difficulty", paper, "per-bin best strategy > best fixed strategy",
                f"test accuracy, per-bin policy - {fixed} (size {s.size})", detail, diagnosis=diagnosis,
                **effect(paired_diff(adaptive.astype(float), fixed_hits), tasks, **ctx.boot)),
            Row("6b compute_optimal strategy", paper, "compute_optimal > best fixed strategy",
                f"test accuracy, compute_optimal - {fixed} (size {s.size})", detail, diagnosis=diagnosis,
                **effect(paired_diff(co_hits, fixed_hits), tasks, **ctx.boot))]


def _policy_diagnosis(val_runs: pd.DataFrame, test_runs: pd.DataFrame, policy: dict[str, str], fixed: str) -> str:
    """How much a per-bin choice could gain at most (the best strategy of each bin chosen on test itself,
    an upper bound), and how often the validation choice found it (few validation problems per bin make
    the choice noise)."""
    solved = test_runs.groupby(["bin", "strategy"])["correct"].sum()
    best = solved.groupby(level="bin").max()
    oracle = best.sum() / test_runs.problem.nunique()
    fixed_acc = test_runs[test_runs.strategy == fixed].correct.mean()
    found = sum(solved[b, policy.get(b, fixed)] == best[b] for b in best.index)
    per_bin = val_runs.groupby("bin").problem.nunique()
    return (f"Chosen on test itself (an upper bound), a per-bin policy would reach {oracle:.3f} against {fixed}'s "
            f"{fixed_acc:.3f}; the validation choice picked a best test strategy in {found} of {len(best)} bins, from "
            f"{per_bin.median():.0f} validation problems per bin (median; {per_bin.min()} to {per_bin.max()}).")


def claim_mcts(ctx: Context, progress: Progress = iter) -> list[Row]:
    """7. rStar / AlphaZero-style: MCTS over steps beats sampling at equal generated tokens, and rStar's
    mutual-consistency check keeps a more precise set of trajectories."""
    pool, s, gen, prm, task = sample_pool(ctx, progress), ctx.sizes, ctx.model("generator"), ctx.model("prm"), ctx.task
    examples = pool.problems[: s.mcts_problems]
    _, runs = evaluate(EvalSpec(["mcts"], [s.mcts_iterations], ctx.seed), examples, task, gen, prm, progress)
    runs = runs.sort_values("problem")
    mcts_hits = runs["correct"].to_numpy().astype(float)
    mcts_tokens = runs["generated_tokens"].to_numpy()
    k = len(examples)
    cum = np.cumsum(pool.tokens[:k], axis=1)
    matched_n = np.abs(cum - mcts_tokens[:, None]).argmin(1) + 1   # the n whose tokens come closest to MCTS's
    bon = np.array([pool.best_of(pool.prm, n)[i] for i, n in enumerate(matched_n)], float)
    sc = np.array([pool.majority(n)[i] for i, n in enumerate(matched_n)], float)
    bon_tokens = cum[np.arange(k), matched_n - 1]
    # rStar: recompute the discriminator's verdict per trajectory on the strategy's own trees, by the
    # generator itself (what rStar ran) and by a second LM, which can disagree
    traj = []
    for i, ex in enumerate(progress(pool.problems[: s.rstar_problems])):
        problem = Problem(ex.problem, task, ex.reference)
        config = make_config("rstar", s.rstar_iterations, seed=ctx.seed + i)
        result = solve("rstar", problem, gen, prm, Budget(), config)
        leaves = [n for n in result.tree.terminals() if n.answer is not None]
        verdicts = {}
        for name, judged in (("self_consistent", config),
                             ("consistent", dataclasses.replace(config, discriminator=ctx.model("discriminator")))):
            search = Search(problem, gen, prm, Budget(), judged)
            search.tree = result.tree
            verdicts[name] = discriminate(search, leaves) if leaves else {}
        for n in leaves:
            traj.append({"problem": i, "leaf": n.id, "answer": n.answer,
                         **{name: v[n.id] for name, v in verdicts.items()},
                         "correct": task.is_correct(n.answer, ex.reference),
                         "reported_consistent": result.info.get("consistent"), "rstar_correct": result.correct,
                         "rstar_tokens": result.stats["generated_tokens"]})
    tj = pd.DataFrame(traj, columns=["problem", "leaf", "answer", "self_consistent", "consistent", "correct",
                                     "reported_consistent", "rstar_correct", "rstar_tokens"])
    per = tj.assign(cc=tj.correct & tj.consistent, sc=tj.correct & tj.self_consistent).groupby("problem").agg(
        cc=("cc", "sum"), c=("consistent", "sum"), sc=("sc", "sum"), s=("self_consistent", "sum"),
        ok=("correct", "sum"), all=("correct", "size"))
    table = pd.concat([
        pd.DataFrame({"problem": range(k), "arm": "mcts", "correct": mcts_hits, "tokens": mcts_tokens}),
        pd.DataFrame({"problem": range(k), "arm": "best_of_n (PRM), matched tokens", "correct": bon,
                      "tokens": bon_tokens, "n": matched_n}),
        pd.DataFrame({"problem": range(k), "arm": "self_consistency, matched tokens", "correct": sc,
                      "tokens": bon_tokens, "n": matched_n}),
        tj.assign(arm="rstar trajectory").rename(columns={"correct": "correct"})], ignore_index=True)
    summary = table[table.arm != "rstar trajectory"].groupby("arm").agg(
        accuracy=("correct", "mean"), mean_tokens=("tokens", "mean")).reset_index()
    fig = go.Figure()
    for _, r in summary.iterrows():
        fig.add_trace(go.Scatter(x=[r.mean_tokens], y=[r.accuracy], mode="markers+text", name=r.arm,
                                 text=[r.arm], textposition="top center", marker={"size": 12}))
    curve = curve_rows(pool, 200, ctx.seed)
    for arm in ("PRM best-of-n", "majority vote"):
        c = curve[curve.arm == arm]
        fig.add_trace(go.Scatter(x=c.mean_tokens, y=c.accuracy, mode="lines", name=f"{arm} (all n)",
                                 line={"dash": "dot"}))
    fig.update_layout(title="Claim 7: accuracy against mean generated tokens", xaxis_title="mean generated tokens",
                      yaxis_title="accuracy", xaxis_type="log")
    save_claim(ctx.out, "claim7_mcts_and_rstar", table, fig)
    token_note = (f"mean tokens per problem: MCTS {mcts_tokens.mean():.0f} ({s.mcts_iterations} iterations), "
                  f"sampling with the closest n per problem {bon_tokens.mean():.0f} (mean n {matched_n.mean():.1f}; "
                  f"{int((matched_n == pool.correct.shape[1]).sum())} problems hit the pool cap).")
    paper = "Qi et al. 2024 (rStar); AlphaZero-style MCTS"
    agree = sum(int(g.self_consistent.sum()) == g.reported_consistent.iloc[0] for _, g in tj.groupby("problem"))
    prec_c, prec_self = per.cc.sum() / max(1, per.c.sum()), per.sc.sum() / max(1, per.s.sum())
    prec_all = per.ok.sum() / max(1, per["all"].sum())
    tasks = pool.tasks[:k]
    guide = ("MCTS backs up the PRM's step values, so it can only beat sampling as far as they tell right from "
             "wrong steps. " + verifier_ranks(pool, pool.correct.shape[1]))
    rows = [Row("7a MCTS vs best-of-N", paper, "MCTS > PRM best-of-N at equal tokens", "accuracy, MCTS - best-of-N",
                f"MCTS {mcts_hits.mean():.3f} vs best-of-N {bon.mean():.3f}; " + token_note, diagnosis=guide,
                **effect(paired_diff(mcts_hits, bon), tasks, **ctx.boot)),
            Row("7b MCTS vs self-consistency", paper, "MCTS > majority vote at equal tokens",
                "accuracy, MCTS - majority vote", f"MCTS {mcts_hits.mean():.3f} vs majority vote {sc.mean():.3f}; "
                + token_note, diagnosis=guide, **effect(paired_diff(mcts_hits, sc), tasks, **ctx.boot))]
    disagree = int((tj.consistent != tj.self_consistent).sum())
    rows.append(Row("7c rStar mutual consistency", "Qi et al. 2024 (rStar)",
                    "consistent trajectories more often correct than all",
                    "precision, consistent - all trajectories",
                    f"{len(tj)} trajectories on {len(per)} problems ({s.rstar_iterations} iterations); the "
                    f"second LM ({ctx.models['discriminator'].name}) judged {int(per.c.sum())} consistent, precision "
                    f"{prec_c:.3f} vs {prec_all:.3f} for all; the generator as its own discriminator (what rStar "
                    f"runs) judged {int(per.s.sum())} consistent, precision {prec_self:.3f}; rStar's own answer "
                    f"accuracy {tj.groupby('problem').rstar_correct.first().mean():.3f}; the recomputed "
                    f"self-verdicts match rStar's reported consistent count on {agree} of {len(per)} problems.",
                    diagnosis=f"The second LM and the generator disagree on {disagree} of {len(tj)} trajectories; "
                              f"of the {int(per.c.sum())} the second LM calls consistent, {int(per.cc.sum())} are "
                              f"right, against {int(per.ok.sum())} right of all {len(tj)}.",
                    **effect(ratio_diff(per.cc, per.c, per.ok, per["all"]), [pool.tasks[i] for i in per.index],
                             **ctx.boot)))
    return rows

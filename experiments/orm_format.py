"""Can an outcome verifier trained Cobbe et al.'s way rank one problem's chains at all on the default world, and does
how it reads a chain or what its loss compares decide it?

Claim 3 of the claims report trains its ORM as Cobbe et al. did (16 chains sampled per train problem, each
labelled by its final answer, the checkpoint chosen on the within-problem AUC of held-back problems), and it
ranks one problem's chains at chance (within-problem AUC 0.51) though its pooled AUC is 0.77: a sequence
classifier on the generator's last hidden state learns how hard a problem is, not whether this chain's
numbers are right. The arms here train on the very same rows, from the same parent, for the same steps,
and are chosen the same way; they differ in how a chain is read:

* `classifier`: the ORM format the pipeline ships (`training.prm.train_orm`: a 2-class head on the last token);
* `pairwise`: the classifier's format, trained only on differences within a problem: a Bradley-Terry loss,
  -log sigmoid(score(right chain) - score(wrong chain)), over pairs of one problem's chains (up to
  `--pairs-per-problem` per problem), as RLHF reward models are trained on two answers to one prompt. What
  tells problems apart (how hard one is) cannot lower this loss, so whatever it learns is within-problem;
* `implicit`: PRIME's implicit reward trained from outcome labels alone (Yuan et al. 2024, "Free Process
  Rewards without Process Labels"): the causal LM trained so that beta times the summed log-ratio to the
  frozen parent over the whole chain is the logit of "the answer is right" (`training.prm.train_implicit_prm`
  with the outcome as the label of the last step only). A wrong number is then judged by the LM head that
  computes it.

Each is judged on the within-problem outcome AUC of fresh chains (`--judge-samples` per problem of
`--judge-problems` validation problems (over the mix), sampled at T=1 like the training rows) and on the
best-of-n accuracy it gives among them, against majority vote, a random pick and pass@n.

    python -m experiments.orm_format --parent assets/generator --out experiments/results/orm-format
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, DataCollatorWithPadding, Trainer

from bench.claims_lib.search_claims import majority_right
from reasoning_core.checkpoints import load_tokenizer
from reasoning_core.rewards import OutcomeRM
from reasoning_core.rewards.implicit import ImplicitPRM
from reasoning_core.tasks import detect
from training.config import preset
from training.data import TASK, split_problems
from training.pipeline import load_generator, outcome_ranking, outcome_rows, sampled_outcome_rows
from training.prm import KeepBest, _args, encode_path, orm_model, train_implicit_prm, train_orm
from training.sampling import sample_chains

JUDGE_SEED = 900  # validation draws no stage makes


def implicit_rows(rows: list[dict]) -> Dataset:
    """Outcome rows as implicit-PRM rows: the final answer's grade is the last step's label, the other
    steps carry none (-100), so only the whole chain's log-ratio is fitted."""
    return Dataset.from_list([{"prompt": r["prompt"], "completions": r["completions"],
                               "labels": [-100.0] * (len(r["completions"]) - 1) + [float(r["correct"])]}
                              for r in rows])


class LastStep:
    """A step-scoring reward read as an ORM: a chain's score is its last step's (one score per path)."""

    def __init__(self, reward) -> None:
        self.reward = reward

    def score(self, problem: str, paths: list[list[str]]) -> list[list[float]]:
        return [[row[-1] if row else 0.0] for row in self.reward.score(problem, paths)]


def chain_pairs(rows: list[dict], per_problem: int, seed: int) -> Dataset:
    """(right, wrong) chain pairs of the same problem, at most `per_problem` of each problem, drawn with `seed`."""
    rng = random.Random(seed)
    by_problem: dict[str, list[dict]] = {}
    for r in rows:
        by_problem.setdefault(r["prompt"], []).append(r)
    out = []
    for problem, group in by_problem.items():
        pairs = [(a["completions"], b["completions"]) for a in group if a["correct"] for b in group if not b["correct"]]
        for right, wrong in rng.sample(pairs, min(per_problem, len(pairs))):
            out.append({"prompt": problem, "right": right, "wrong": wrong})
    rng.shuffle(out)
    return Dataset.from_list(out)


class _PairCollator:
    """A batch of pairs as one padded batch of 2B chains: the right chains, then the wrong ones."""

    def __init__(self, tok) -> None:
        self.tok, self.pad = tok, DataCollatorWithPadding(tok)

    def __call__(self, rows: list[dict]) -> dict:
        return self.pad([{"input_ids": encode_path(self.tok, r["prompt"], r[side])[0]}
                         for side in ("right", "wrong") for r in rows])


class _PairTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logits = model(**inputs).logits.float()
        score = logits[:, 1] - logits[:, 0]           # the logit of P(correct) OutcomeRM reads
        right, wrong = score.chunk(2)
        loss = -torch.nn.functional.logsigmoid(right - wrong).mean()
        return (loss, None) if return_outputs else loss


def train_pairwise_orm(parent: Path, tok, pairs: Dataset, cfg, work: str, callbacks):
    model = orm_model(str(parent), tok, cfg.seed)
    trainer = _PairTrainer(model=model, args=_args(work, cfg), train_dataset=pairs, data_collator=_PairCollator(tok),
                           callbacks=callbacks)
    loss = trainer.train().training_loss
    return model.eval(), {"train_loss": round(float(loss), 4), "train_pairs": len(pairs)}


def judge_rows(cfg, parent: Path, count: int, samples: int) -> list[dict]:
    """`samples` chains at T=1 for `count` validation problems (over the mix), labelled by their answer."""
    model, tok = load_generator(parent)
    problems, refs = split_problems("validation", count, cfg.mix, seed=JUDGE_SEED)
    groups = sample_chains(model, tok, problems, samples, temperature=1.0, seed=JUDGE_SEED, desc="judge chains")
    chains = [(c, r) for g, r in zip(groups, refs) for c in g]
    return outcome_rows([c.problem for c, _ in chains], [c.steps for c, _ in chains], [r for _, r in chains])


def best_of(orm, rows: list[dict]) -> dict:
    """Best-of-n accuracy of `orm`'s pick among each problem's chains, beside majority vote, a random pick and
    pass@n, by task and overall."""
    by_problem: dict[str, list[dict]] = {}
    for r in rows:
        by_problem.setdefault(r["prompt"], []).append(r)
    out: dict[str, list[tuple[float, ...]]] = {}
    for problem, group in by_problem.items():
        scores = [s[0] for s in orm.score(problem, [r["completions"] for r in group])]
        correct = [r["correct"] for r in group]
        answers = [TASK.extract_answer("\n".join(r["completions"])) for r in group]
        hits = (correct[int(np.argmax(scores))], majority_right(answers, correct), float(np.mean(correct)),
                any(correct))
        out.setdefault(detect(problem), []).append(hits)
        out.setdefault("all", []).append(hits)
    names = ("best_of_n", "majority", "random_pick", "pass_at_n")
    return {task: {n: round(float(np.mean([h[i] for h in hits])), 4) for i, n in enumerate(names)}
            for task, hits in sorted(out.items())}


def run_arm(name: str, cfg, parent: Path, tok, train: list[dict], held: list[dict], judged: list[dict],
            lr: float | None, pairs_per_problem: int) -> dict:
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        if name == "implicit":
            ref = AutoModelForCausalLM.from_pretrained(str(parent)).eval()   # the judge's copy of the frozen parent

            def adapter(m):
                return LastStep(ImplicitPRM.from_models(m, ref, tok, task=TASK.name, beta=cfg.prm.beta))
            keep = KeepBest(cfg.orm.select_every, lambda m: outcome_ranking(adapter(m), held)[
                "within_problem_outcome_auc"])
            # the implicit PRM's own learning rate: a log-ratio moves the whole LM, not a fresh head
            implicit_cfg = dataclasses.replace(cfg.orm, learning_rate=lr or cfg.prm.learning_rate)
            model, _, stats = train_implicit_prm(str(parent), tok, implicit_rows(train), implicit_cfg, work,
                                                 callbacks=[keep])
            orm = adapter(model)
        else:
            keep = KeepBest(cfg.orm.select_every, lambda m: outcome_ranking(
                OutcomeRM.from_model(m, tok, task=TASK.name), held)["within_problem_outcome_auc"])
            orm_cfg = dataclasses.replace(cfg.orm, learning_rate=lr or cfg.orm.learning_rate)
            if name == "pairwise":
                model, stats = train_pairwise_orm(parent, tok, chain_pairs(train, pairs_per_problem, cfg.seed),
                                                  orm_cfg, work, [keep])
            else:
                model, stats = train_orm(str(parent), tok, train, orm_cfg, work, callbacks=[keep])
            orm = OutcomeRM.from_model(model, tok, task=TASK.name)
        return {"arm": name, **outcome_ranking(orm, judged), "best_of": best_of(orm, judged),
                "selected_step": keep.best_step, "selection_curve": keep.history, **stats,
                "wall_s": round(time.time() - t0, 1)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parent", type=Path, default=Path("assets/generator"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--samples", type=int, default=16, help="chains per train problem")
    p.add_argument("--problems", type=int, default=200, help="train problems (over the mix)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of both arms (default: the preset ORM's, and the PRM's for the implicit arm)")
    p.add_argument("--judge-problems", type=int, default=120, help="validation problems (over the mix)")
    p.add_argument("--judge-samples", type=int, default=16)
    p.add_argument("--pairs-per-problem", type=int, default=16, help="pairwise arm: (right, wrong) pairs per problem")
    p.add_argument("--arms", default="classifier,pairwise,implicit")
    args = p.parse_args(argv)
    cfg = preset("default")
    orm = dataclasses.replace(cfg.orm, samples=args.samples, problems=args.problems, max_steps=args.steps,
                              select_every=max(1, args.steps // 4), beta=cfg.prm.beta)
    cfg = dataclasses.replace(cfg, orm=orm)
    tok = load_tokenizer(args.parent)
    t0 = time.time()
    rows = sampled_outcome_rows(cfg, args.parent)
    held_prompts = set(sorted({r["prompt"] for r in rows})[::10])   # as `pipeline.run_orm` holds back
    held = [r for r in rows if r["prompt"] in held_prompts]
    train = [r for r in rows if r["prompt"] not in held_prompts]
    judged = judge_rows(cfg, args.parent, args.judge_problems, args.judge_samples)
    sampling_s = round(time.time() - t0, 1)
    arms = [run_arm(name, cfg, args.parent, tok, train, held, judged, args.lr,
                    args.pairs_per_problem) for name in args.arms.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"command": "python -m experiments.orm_format " + shlex.join(argv if argv is not None else sys.argv[1:]),
              "parent": str(args.parent), "train_chains": len(train), "selection_chains": len(held),
              "train_positive_fraction": round(float(np.mean([r["correct"] for r in train])), 4),
              "judge_chains": len(judged), "sampling_s": sampling_s, "orm": dataclasses.asdict(orm), "arms": arms}
    (args.out / "orm_format.json").write_text(json.dumps(result, indent=1))
    print(f"{'arm':<11} {'pooled':>7} {'within':>7} {'best-of-n':>9} {'majority':>8} {'random':>7} {'pass@n':>7}")
    for a in arms:
        b = a["best_of"]["all"]
        print(f"{a['arm']:<11} {a['outcome_auc']:>7} {a['within_problem_outcome_auc']:>7} {b['best_of_n']:>9} "
              f"{b['majority']:>8} {b['random_pick']:>7} {b['pass_at_n']:>7}")


if __name__ == "__main__":
    main()

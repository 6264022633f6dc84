"""What holds the label-trained PRM back: noisy labels, chains that never show it a wrong number on its own,
or where it reads a step?

The default PRM (token classification initialised from the generator, trained on Math-Shepherd and OmegaPRM
labels of the generator's own chains) ranks steps within a problem at AUC 0.83 and prefers a gold chain to
the same chain with one result changed only 55% of the time, while the agreement verifier (an LM that
re-derives each step) does so 98% of the time. Each arm trains the same PRM, from the same parent, for the
same steps, and differs only in its training rows:

* `mc`: the label stage's rows (Math-Shepherd and OmegaPRM labels of the generator's chains);
* `exact`: the same chains, labelled by the exact checker `tasks.check_steps` instead (no label noise);
* `exact+pairs`: those, plus gold chains of training problems and the same chains with one result changed
  (`reward_eval.corrupt_one_result`), exactly labelled: chains that differ in one number only;
* `mc+pairs`: the label stage's rows as they are, plus those pairs;
* `exact+pairs+spelling`: `exact+pairs`, plus as many gold letters chains of training problems beside the same
  chain with one letter of one chunk dropped or doubled (`misspell_one_step`; never the counted letter, so the
  running count stays right and only the spelling is wrong): the letters errors the generator makes most
  (experiments/results/letters-errors), which one-result-changed pairs never show.

An arm named `DATA@min` trains on DATA's rows but reads a step differently: not P(good) at the token that
closes it (the TRL format, every arm above) but the least P(good) over all of the step's tokens, trained so
(every token of a good step good; for a bad step, its least-good token bad: a multiple-instance loss, as
the error sits at one unknown token). A wrong digit is then judged at the digit, one position after the
model's own prediction of it, instead of at the newline after it.

An arm named `DATA@lm` is a Math-Shepherd step-tag LM instead: the causal LM itself (the generator's LM head
kept) reads "step #" lines and is trained to write "+" or "-" after each tag, and at the same time to go on
predicting the tokens of the good steps (next-token loss beside the tag loss, weighted the same), so that
the next-token computation it checks against is not trained away. Its score is softmax over "+" and "-"
at the tag.

An arm named `DATA@implicit` is an implicit PRM (`training.prm.train_implicit_prm`): the causal LM trained
so that beta * log(pi / pi_parent) summed over a prefix's tokens is the logit of the prefix's label, read
by `reasoning_core.rewards.implicit.ImplicitPRM`. A wrong result is judged by the LM's own prediction of
it, through the LM head the generator computes with.

Each arm is judged as the pipeline judges its PRM (`pipeline._heldout_step_auc`: within-problem step AUC on
the chains the generator samples for validation problems, and gold against one-result-changed pairs of
validation problems), and the results go to `--out`/prm_data.json.

    python -m experiments.prm_data --parent experiments/results/default-sft-v4/sft \
        --labels experiments/results/default-sft-v4/labels --out experiments/results/prm-data
    python -m experiments.prm_data ... --out experiments/results/prm-data-10k --arms exact+pairs --pairs 10000
    python -m experiments.prm_data ... --out experiments/results/prm-data-steps --arms exact+pairs --pairs 30000 \
        --steps 3000 --lr 1e-3 --eval-at 250,500,1000,2000

`--eval-at` judges each arm at those training steps too (its `curve`): does the pair preference grow with
training, or has it stopped where the preset's 500 steps leave it?

The held-out chains are sampled once per output folder and kept in its `.heldout/` (not committed); copy
that folder to judge another run on the very same chains.
"""
from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from datasets import Dataset, concatenate_datasets
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, Trainer, TrainerCallback

from reasoning_core.checkpoints import load_tokenizer
from reasoning_core.rewards.implicit import ImplicitPRM
from reasoning_core.rewards.token_classification import TokenClassificationPRM
from reasoning_core.tasks import check_steps, letters
from training import checkpoint as ckpt
from training.config import preset
from training.data import TASK, mix_problems, stepwise_row
from training.pipeline import _heldout_step_auc, _label_rows, heldout_cache, save_prm
from training.prm import (
    StepSpanCollator,
    _args,
    pad_spans,
    score_by_problem,
    step_span_rows,
    step_spans,
    train_implicit_prm,
    train_prm,
    with_new_head,
)
from training.reward_eval import corrupt_one_result

ARMS = ("mc", "exact", "exact+pairs", "exact+pairs+spelling", "exact+pairs@min", "mc@min", "exact+pairs@lm", "mc@lm",
        "exact+pairs@implicit", "mc@implicit", "mc+pairs@implicit")
COLUMNS = ["prompt", "completions", "labels"]  # what the PRM trains on, whatever else a source holds
PAIR_SEED = 700  # train problems no stage draws (the stages use seeds 0-600)


def exact_rows(rows: Dataset) -> Dataset:
    """The same chains, each step labelled by the exact checker."""
    seen, out = set(), []
    for r in rows:  # the label folder holds each chain twice (one row per method)
        key = (r["prompt"], tuple(r["completions"]))
        if key not in seen:
            seen.add(key)
            out.append(stepwise_row(r["prompt"], r["completions"], check_steps(r["prompt"], r["completions"])))
    return Dataset.from_list(out)


def twins(examples, corrupt) -> list[tuple[str, list[str], str]]:
    """(problem, steps, reference) for each example's gold chain, followed by `corrupt(example, rng)`'s twin of it
    (examples without one are skipped)."""
    rng = random.Random(PAIR_SEED)
    out = []
    for ex in examples:
        bad = corrupt(ex, rng)
        if bad is not None:
            out += [(ex.problem, list(ex.steps), ex.reference), (ex.problem, bad, ex.reference)]
    return out


def pair_chains(cfg, count: int) -> list[tuple[str, list[str], str]]:
    """`count` gold chains of training problems, each followed by the same chain with one result changed
    (skipped where no step holds a number)."""
    return twins(mix_problems(cfg.mix, "train", count, seed=PAIR_SEED, per_task=False),
                 lambda ex, rng: (twin := corrupt_one_result(ex.steps, rng)) and twin[0])


def misspell_one_step(problem: str, steps: list[str], rng: random.Random) -> list[str] | None:
    """A letters chain with one letter of one spelled chunk ("p r o -> 1") dropped or doubled, the counted letter
    never touched, so the count stays right and only the spelling is wrong; None for another task's chain."""
    question = letters.parse(problem)
    if question is None:
        return None
    chunks = [(k, s.split(" -> ")) for k, s in enumerate(steps[:-1]) if " -> " in s]
    spots = [(k, i) for k, (spelled, _) in chunks for i, ch in enumerate(spelled.split()) if ch != question.letter]
    if not spots:
        return None
    k, i = rng.choice(spots)
    spelled, count = steps[k].split(" -> ")
    chars = spelled.split()
    chars[i:i + 1] = [] if len(chars) > 1 and rng.random() < 0.5 else [chars[i]] * 2
    return [*steps[:k], f"{' '.join(chars)} -> {count}", *steps[k + 1:]]


def spelling_pair_chains(count: int) -> list[tuple[str, list[str], str]]:
    """`count` gold letters chains of training problems, each followed by its `misspell_one_step` twin."""
    return twins(letters.generate("train", count, seed=PAIR_SEED),
                 lambda ex, rng: misspell_one_step(ex.problem, list(ex.steps), rng))


def exact_pair_rows(pairs) -> Dataset:
    return Dataset.from_list([stepwise_row(p, s, check_steps(p, s)) for p, s, _ in pairs])


def step_log_probs(logits: torch.Tensor, step_of: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (row, step): the mean log P(good) over the step's tokens and the log P(bad) of its least-good
    token (the largest log P(bad)); -1e4 where a row has no such step."""
    logp = logits.float().log_softmax(-1)
    member = step_of.unsqueeze(1) == torch.arange(steps, device=step_of.device).view(1, steps, 1)  # (B, S, T)
    good = (logp[..., 1].unsqueeze(1) * member).sum(-1) / member.sum(-1).clamp_min(1)
    bad = logp[..., 0].unsqueeze(1).expand(member.shape).masked_fill(~member, -1e4).max(-1).values
    return good, bad


class _MinTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        step_of, labels = inputs.pop("step_of"), inputs.pop("step_labels")
        out = model(**inputs)
        good, bad = step_log_probs(out.logits, step_of, labels.shape[1])
        valid = labels >= 0
        loss = -torch.where(labels > 0.5, good, bad)[valid].mean()
        return (loss, out) if return_outputs else loss


def train_min_prm(parent: Path, tok, rows: Dataset, cfg, work: str, callbacks=None):
    model = with_new_head(AutoModelForTokenClassification, str(parent), cfg.prm.seed)
    model.config.pad_token_id = tok.pad_token_id

    trainer = _MinTrainer(model=model, args=_args(work, cfg.prm), train_dataset=step_span_rows(tok, rows),
                          callbacks=callbacks, data_collator=StepSpanCollator(tok.pad_token_id))
    loss = trainer.train().training_loss
    return model.eval(), {"train_loss": round(float(loss), 4), "train_chains": len(rows)}


def min_scorer(model, tok, batch_size: int = 64):
    """(problems, paths) -> per step, the least P(good) over its tokens."""
    def score(problems: list[str], paths: list[list[str]]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(paths), batch_size):
            feats = [step_spans(tok, p, s) for p, s in zip(problems[i:i + batch_size], paths[i:i + batch_size])]
            batch = pad_spans(feats, tok.pad_token_id)
            steps = max(len(s) for s in paths[i:i + batch_size])
            with torch.no_grad():
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            _, bad = step_log_probs(logits, batch["step_of"], steps)
            out += [[1.0 - float(bad[r, k].exp()) for k in range(len(path))]
                    for r, path in enumerate(paths[i:i + batch_size])]
        return out
    return score


TAG, GOOD, BAD = "#", "+", "-"  # one character each in the character tokenizer; no task writes "#"


def tagged_features(tok, problem: str, steps: list[str]) -> tuple[list[int], list[int], list[int]]:
    """Token ids of the prompt, then each step followed by " #" (lines joined by "\\n", as
    `rewards.step_tag.tagged_text` lays them out), the position of each tag, and per token the step it
    belongs to (-1: prompt, tag or separator)."""
    ids = tok(TASK.prompt(problem), add_special_tokens=False)["input_ids"]
    step_of, tags = [-1] * len(ids), []
    for k, step in enumerate(steps):
        if k:
            piece = tok("\n", add_special_tokens=False)["input_ids"]
            ids, step_of = ids + piece, step_of + [-1] * len(piece)
        piece = tok(step, add_special_tokens=False)["input_ids"]
        ids, step_of = ids + piece, step_of + [k] * len(piece)
        piece = tok(" " + TAG, add_special_tokens=False)["input_ids"]
        ids, step_of = ids + piece, step_of + [-1] * len(piece)
        tags.append(len(ids) - 1)
    return ids, tags, step_of


class _TagCollator:
    def __init__(self, tok):
        self.pad_id = tok.pad_token_id
        self.good, self.bad = (tok(t, add_special_tokens=False)["input_ids"][-1] for t in (GOOD, BAD))

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        """`tag_target`: at each tag, the good or bad token; `lm_target`: at the token before each token of
        a good step, that token (next-token loss on good steps only); -100 elsewhere."""
        width = max(len(r["input_ids"]) for r in rows)
        ids, mask, tag_t, lm_t = [], [], [], []
        for r in rows:
            n = len(r["input_ids"])
            tag = [-100] * width
            for pos, good in zip(r["tags"], r["step_labels"]):
                tag[pos] = self.good if good else self.bad
            lm = [-100] * width
            for pos in range(1, n):
                k = r["step_of"][pos]
                if k >= 0 and r["step_labels"][k]:
                    lm[pos - 1] = r["input_ids"][pos]
            ids.append(r["input_ids"] + [self.pad_id] * (width - n))
            mask.append([1] * n + [0] * (width - n))
            tag_t.append(tag)
            lm_t.append(lm)
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask),
                "tag_target": torch.tensor(tag_t), "lm_target": torch.tensor(lm_t)}


class _TagTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        tag_t, lm_t = inputs.pop("tag_target"), inputs.pop("lm_target")
        out = model(**inputs)
        logits = out.logits.float().flatten(0, 1)
        loss = torch.nn.functional.cross_entropy(logits, tag_t.flatten(), ignore_index=-100)
        if (lm_t >= 0).any():
            loss = loss + torch.nn.functional.cross_entropy(logits, lm_t.flatten(), ignore_index=-100)
        return (loss, out) if return_outputs else loss


def train_tag_lm(parent: Path, tok, rows: Dataset, cfg, work: str, callbacks=None):
    model = AutoModelForCausalLM.from_pretrained(str(parent))

    def one(r):
        ids, tags, step_of = tagged_features(tok, r["prompt"], r["completions"])
        return {"input_ids": ids, "tags": tags, "step_of": step_of, "step_labels": [bool(x) for x in r["labels"]]}
    data = rows.map(one, remove_columns=rows.column_names)
    trainer = _TagTrainer(model=model, args=_args(work, cfg.prm), train_dataset=data, data_collator=_TagCollator(tok),
                          callbacks=callbacks)
    loss = trainer.train().training_loss
    return model.eval(), {"train_loss": round(float(loss), 4), "train_chains": len(rows)}


def tag_scorer(model, tok, batch_size: int = 64):
    """(problems, paths) -> per step, softmax over the good and bad tokens at its tag."""
    collate = _TagCollator(tok)

    def score(problems: list[str], paths: list[list[str]]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(paths), batch_size):
            feats = [tagged_features(tok, p, s) for p, s in zip(problems[i:i + batch_size], paths[i:i + batch_size])]
            batch = pad_spans([(ids, step_of) for ids, _, step_of in feats], tok.pad_token_id)
            with torch.no_grad():
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            p_good = logits[..., [collate.good, collate.bad]].softmax(-1)[..., 0]
            out += [[float(p_good[r, t]) for t in tags] for r, (_, tags, _) in enumerate(feats)]
        return out
    return score


def train_implicit(parent: Path, tok, rows: Dataset, cfg, work: str, callbacks=None):
    model, _, stats = train_implicit_prm(str(parent), tok, rows, cfg.prm, work, callbacks)
    return model, stats


def implicit_scorer(model, tok):
    """(problems, paths) -> the implicit PRM's step scores against the parent `model` was loaded from."""
    ref = AutoModelForCausalLM.from_pretrained(model.name_or_path)
    return partial(score_by_problem, ImplicitPRM.from_models(model, ref, tok, task=TASK.name))


READINGS = {  # an arm's reading -> (train(parent, tok, rows, cfg, work, callbacks), scorer(model, tok))
    "": (lambda parent, tok, rows, cfg, work, callbacks: train_prm(str(parent), tok, rows, cfg.prm, work, callbacks),
         lambda model, tok: partial(score_by_problem, TokenClassificationPRM.from_model(model, tok, task=TASK.name))),
    "min": (train_min_prm, min_scorer),
    "lm": (train_tag_lm, tag_scorer),
    "implicit": (train_implicit, implicit_scorer),
}


class LearningCurve(TrainerCallback):
    """Judges the PRM in training at the steps `at` (`judge(model) -> metrics`), each point kept in `curve`
    and handed to `saved` as it is taken (a killed run keeps the points it reached)."""

    def __init__(self, at: set[int], judge, saved) -> None:
        self.at, self.judge, self.saved, self.curve = at, judge, saved, []

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step in self.at:
            metrics = self.judge(model)
            model.train()
            self.curve.append({"step": state.global_step, **metrics})
            self.saved(self.curve)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parent", required=True, type=Path, help="the generator the labels were sampled from")
    p.add_argument("--labels", required=True, type=Path, help="its `label` stage folder")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--preset", default="default")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--pairs", type=int, default=1000, help="gold chains whose one-result-changed twin is added")
    p.add_argument("--steps", type=int, default=None, help="PRM training steps (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="PRM learning rate (default: the preset's)")
    p.add_argument("--eval-at", default="", help="steps at which each arm is judged too")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save", type=Path, help="also save each token-classification or implicit arm's PRM in "
                   "SAVE/ARM (e.g. to search with it: --reward SAVE/exact+pairs-implicit)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cfg = preset(args.preset)
    if args.steps:
        cfg.prm.max_steps = args.steps
    if args.lr:
        cfg.prm.learning_rate = args.lr
    args.out.mkdir(parents=True, exist_ok=True)
    result_file = args.out / "prm_data.json"
    results = json.loads(result_file.read_text()) if result_file.is_file() else {}
    tok = load_tokenizer(args.parent)
    label_rows = _label_rows(args.labels, cfg.prm.label_source)
    pairs = pair_chains(cfg, args.pairs)
    builders = {"mc": lambda: [label_rows],
                "exact": lambda: [exact_rows(label_rows)],
                "exact+pairs": lambda: [exact_rows(label_rows), exact_pair_rows(pairs)],
                "exact+pairs+spelling": lambda: [exact_rows(label_rows), exact_pair_rows(pairs),
                                                 exact_pair_rows(spelling_pair_chains(args.pairs))],
                "mc+pairs": lambda: [label_rows, exact_pair_rows(pairs)]}
    cache = heldout_cache(args.out / "prm", args.parent, cfg.prm.eval_problems, cfg.seed)
    for arm in args.arms.split(","):
        if arm in results:  # a rerun resumes after the last finished arm
            continue
        t0 = time.time()
        data, _, reading = arm.partition("@")
        rows = concatenate_datasets([d.select_columns(COLUMNS) for d in builders[data]()])
        train, scorer = READINGS[reading]

        def judge(model, scorer=scorer):
            return _heldout_step_auc(cfg, args.parent, scorer(model.eval(), tok), cache)

        def saved(points, arm=arm):
            result_file.write_text(json.dumps({**results, f"{arm} (partial)": {"curve": points}}, indent=2))
        curve = LearningCurve({int(s) for s in args.eval_at.split(",") if s}, judge, saved)
        with tempfile.TemporaryDirectory() as work:
            prm_model, stats = train(args.parent, tok, rows, cfg, work, callbacks=[curve])
        stats["curve"] = curve.curve
        score = scorer(prm_model, tok)
        metrics = _heldout_step_auc(cfg, args.parent, score, cache)
        results[arm] = {**metrics, **stats, "train_steps": cfg.prm.max_steps, "learning_rate": cfg.prm.learning_rate,
                        "wall_s": round(time.time() - t0, 1),
                        "command": shlex.join(["python", "-m", "experiments.prm_data", *sys.argv[1:]])}
        result_file.write_text(json.dumps({**results}, indent=2) + "\n")
        if args.save and reading in ("", "implicit"):  # the formats the core loads
            reference = AutoModelForCausalLM.from_pretrained(str(args.parent)) if reading else None
            with ckpt.atomic_dir(args.save / arm.replace("@", "-")) as tmp:
                save_prm(tmp, prm_model, tok, cfg, args.parent, results[arm], reference=reference)
        print(f"{arm}: within-problem AUC {metrics['within_problem_step_auc']}, gold over one-changed "
              f"{metrics['gold_vs_one_result_changed']}, {stats['train_chains']} chains", flush=True)
    print("| arm | chains | within-problem AUC | gold > one changed | arith | word | letters |")
    print("|---|---|---|---|---|---|---|")
    for arm, r in results.items():
        tasks = [r["by_task"][t] for t in ("arith", "word", "letters") if t in r["by_task"]]
        per = " | ".join(f"{t['within_problem_step_auc']} / {t['gold_vs_one_result_changed']}" for t in tasks)
        print(f"| {arm} | {r['train_chains']} | {r['within_problem_step_auc']} | "
              f"{r['gold_vs_one_result_changed']} | {per} |")


if __name__ == "__main__":
    main()

"""Step-level GRPO against SFT at the same states: why GRPO does not raise greedy accuracy here.

`experiments/grpo_sweep.py` shows every GRPO run lowering or leaving flat greedy accuracy. This script removes
the usual suspects (a noisy reward, credit assignment over a whole chain) and compares RL's signal with
SFT's on equal terms. Step-level GRPO groups: from each state (a problem and a prefix of correct steps)
it samples K sibling next steps, rewards each by the exact step check
(`reasoning_core.tasks.arith.check_steps`) and normalises the rewards within the group, as GRPO does;
groups whose siblings all agree carry no signal. SFT at the same states: the gold next step, weight 1.

Line search (`--states`): the gradient summed over every group in one batch (no sampling noise left to
blame); the parent is moved a distance s along it, against it (a control), and along SFT's gradient at
the same states; each point reports the step accuracy on the very states the gradient came from (fresh
samples: what the step optimises) and held-out greedy and sampled accuracy (what we want raised).
States are `on-policy` (every prefix of a chain sampled at T, up to its first error) or `greedy-errors`
(the prefix before the greedy chain's first error: the decisions that make greedy wrong).

Training (`--train`): Adam from the parent, each update on the on-policy states of P fresh problems, in
one of two arms: `grpo` (the groups above) or `sft` (the gold next step at those states).

    python -m experiments.step_grpo --parent runs/tiny/star --out experiments/results/step-grpo --train ""
    python -m experiments.step_grpo --parent runs/tiny/star --out experiments/results/step-grpo --states "" \
        --train grpo:16:40,sft:16:40,grpo:64:20,sft:64:20

Prints a table per part and writes OUT/line_search.json and OUT/training.json.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from reasoning_core.tasks.arith import check_steps, parse_problem
from training.config import preset
from training.data import TASK, split_problems
from training.pipeline import evaluate, evaluate_sampled, load_generator
from training.sampling import make_generator, sample_chains

STATE_KINDS = ("on-policy", "greedy-errors")
CHUNK = 64  # states per batched propose call


@dataclass
class State:
    problem: str
    prefix: list[str]

    @property
    def text(self) -> str:
        return TASK.prompt(self.problem) + "".join(s + TASK.step_delimiter for s in self.prefix)

    @property
    def gold_step(self) -> tuple[str, bool]:
        """The correct next step, and whether it is the answer line (EOS follows it)."""
        gold = parse_problem(self.problem).steps()
        return gold[len(self.prefix)], len(self.prefix) == len(gold) - 1

    def reward(self, step: str) -> float:
        """1.0 when `step` is a correct next step after this (correct) prefix."""
        return float(bool(step.strip()) and check_steps(self.problem, self.prefix + [step.strip()])[-1])


def first_error(problem: str, steps: list[str]) -> int | None:
    """Index of a chain's first wrong step, `len(steps)` when it stops before an answer line, None when solved."""
    labels = check_steps(problem, steps)
    bad = next((k for k, ok in enumerate(labels) if not ok), None)
    if bad is None and (not steps or TASK.extract_answer(steps[-1]) is None):
        return len(steps)
    return bad


def collect_states(model, tok, problems: list[str], kind: str, temperature: float, seed: int = 5) -> list[State]:
    """`on-policy`: every prefix of one sampled chain up to its first error; `greedy-errors`: the prefix
    before the greedy chain's first error (problems greedy solves give none)."""
    greedy = kind == "greedy-errors"
    chains = sample_chains(model, tok, problems, 1, temperature=0.0 if greedy else temperature, seed=seed,
                           desc=f"{kind} chains")
    states = []
    for problem, (chain,) in zip(problems, chains):
        bad = first_error(problem, chain.steps)
        if greedy:
            states += [State(problem, chain.steps[:bad])] if bad is not None else []
        else:
            last = len(chain.steps) - 1 if bad is None else bad
            states += [State(problem, chain.steps[:k]) for k in range(last + 1)]
    return states


def next_steps(gen, states: list[State], n: int, temperature: float, seed: int) -> list[list]:
    """`n` sampled next steps (`Continuation`s) for every state, in batched calls."""
    out = []
    for i in range(0, len(states), CHUNK):
        out += gen.propose([s.text for s in states[i:i + CHUNK]], n, stop=TASK.step_delimiter,
                           max_new_tokens=24, temperature=temperature, seed=seed + i)
    return out


def state_accuracy(gen, states: list[State], temperature: float, n: int = 4) -> float:
    """Fraction of `n` fresh next steps per state (a seed apart from the groups') that are correct."""
    props = next_steps(gen, states, n, temperature, seed=999)
    return sum(s.reward(c.text) for s, group in zip(states, props) for c in group) / max(1, n * len(states))


def _step_ids(tok, text: str, last: bool) -> list[int]:
    """A step's tokens and what ends it: the delimiter, or EOS after the chain's last step."""
    end = tok.eos_token_id if last else tok(TASK.step_delimiter, add_special_tokens=False)["input_ids"][-1]
    return tok(text, add_special_tokens=False)["input_ids"] + [end]


def grpo_sequences(gen, tok, states: list[State], k: int, temperature: float,
                   seed: int = 77) -> list[tuple[list[int], int, float]]:
    """(token ids, prompt length, advantage) of every sibling in a group whose rewards differ."""
    seqs = []
    for state, group in zip(states, next_steps(gen, states, k, temperature, seed=seed)):
        rewards = torch.tensor([state.reward(c.text) for c in group])
        if rewards.std() == 0:
            continue  # GRPO's advantage is zero for the whole group
        adv = (rewards - rewards.mean()) / (rewards.std(correction=0) + 1e-4)
        prompt = tok(state.text, add_special_tokens=False)["input_ids"]
        for c, a in zip(group, adv.tolist()):
            seqs.append((prompt + _step_ids(tok, c.text, c.finished), len(prompt), a))
    return seqs


def gold_sequences(tok, states: list[State]) -> list[tuple[list[int], int, float]]:
    """Every state with its correct next step at weight 1: SFT's gradient at the same states."""
    seqs = []
    for state in states:
        prompt = tok(state.text, add_special_tokens=False)["input_ids"]
        seqs.append((prompt + _step_ids(tok, *state.gold_step), len(prompt), 1.0))
    return seqs


def policy_gradient(model, tok, seqs, batch_size: int = 128) -> list[torch.Tensor]:
    """Gradient of -(advantage x log-prob of the step tokens), averaged per token, over all `seqs`."""
    model.train()
    model.zero_grad()
    tokens = sum(len(ids) - p for ids, p, _ in seqs)
    for i in range(0, len(seqs), batch_size):
        batch = seqs[i:i + batch_size]
        width = max(len(ids) for ids, _, _ in batch)
        ids = torch.tensor([x + [tok.pad_token_id] * (width - len(x)) for x, _, _ in batch])
        pos = torch.arange(width)[None, :]
        lengths = torch.tensor([[len(x)] for x, _, _ in batch])
        attention = (pos < lengths).long()
        step_mask = ((pos >= torch.tensor([[p] for _, p, _ in batch])) & (pos < lengths)).float()[:, 1:]
        logp = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float().log_softmax(-1)
        chosen = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
        adv = torch.tensor([a for _, _, a in batch])[:, None]
        (-(chosen * step_mask * adv).sum() / tokens).backward()
    model.eval()
    return [p.grad.detach().clone() for p in model.parameters()]


@dataclass
class Arm:
    """One training run: `kind` (grpo or sft), P problems per update, that many updates."""

    kind: str
    problems_per_update: int
    updates: int

    @classmethod
    def parse(cls, text: str) -> Arm:
        kind, per, updates = text.split(":")
        if kind not in ("grpo", "sft"):
            raise ValueError(f"unknown arm {kind!r}; valid: grpo, sft")
        return cls(kind, int(per), int(updates))


def train_arm(model, tok, gen, problems: list[str], arm: Arm, siblings: int, temperature: float, lr: float) -> dict:
    """Adam updates of `model` in place, each on the on-policy states of the next P problems."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    seen = trained = 0
    for u in range(arm.updates):
        batch = problems[u * arm.problems_per_update:(u + 1) * arm.problems_per_update]
        states = collect_states(model, tok, batch, "on-policy", temperature, seed=1000 + u)
        seqs = (grpo_sequences(gen, tok, states, siblings, temperature, seed=2000 + u) if arm.kind == "grpo"
                else gold_sequences(tok, states))
        seen += len(states)
        trained += len(seqs) // siblings if arm.kind == "grpo" else len(seqs)
        if seqs:
            policy_gradient(model, tok, seqs)  # leaves the gradient in .grad for the optimiser
            opt.step()
    return {"states_seen": seen, "states_trained": trained}


def held_out(model, tok, cfg, temperature: float) -> dict:
    """Validation greedy accuracy and that of 2 chains per problem sampled at `temperature`."""
    return {"val_greedy": evaluate(model, tok, cfg), "val_sampled": evaluate_sampled(model, tok, cfg, temperature)}


def line_search(model, tok, cfg, args) -> list[dict]:
    """Held-out and on-state accuracy along the big-batch GRPO gradient, against it, and along SFT's."""
    gen = make_generator(model, tok)
    parent = [p.detach().clone() for p in model.parameters()]
    before = held_out(model, tok, cfg, args.temperature)
    rows = []
    for kind, count in zip(args.states.split(","), map(int, args.problems.split(","))):
        t0 = time.time()
        problems, _ = split_problems("train", count, cfg.mix, seed=cfg.seed + 900)
        states = collect_states(model, tok, problems, kind, args.temperature)
        seqs = grpo_sequences(gen, tok, states, args.siblings, args.temperature)
        if not seqs:
            raise SystemExit(f"{kind}: the siblings of each of the {len(states)} states agree (all right or all "
                             "wrong), so GRPO has no signal: use more --problems, more --siblings or a better parent")
        grad, sft = policy_gradient(model, tok, seqs), policy_gradient(model, tok, gold_sequences(tok, states))
        common = {"states": kind, "problems": count, "n_states": len(states),
                  "groups_with_signal": len(seqs) // args.siblings}
        rows.append(common | {"direction": "parent", "step": 0.0,
                              "state_step_acc": round(state_accuracy(gen, states, args.temperature), 4), **before})
        # loss gradients: moving against one ascends the expected step reward (or the gold step's likelihood)
        for direction, loss_grad in (("+gradient", grad), ("-gradient", [-g for g in grad]), ("gold step (SFT)", sft)):
            norm = torch.sqrt(sum((g ** 2).sum() for g in loss_grad))
            for scale in map(float, args.scales.split(",")):
                with torch.no_grad():
                    for p, p0, g in zip(model.parameters(), parent, loss_grad):
                        p.copy_(p0 - scale * g / norm)
                rows.append(common | {"direction": direction, "step": scale,
                                      "state_step_acc": round(state_accuracy(gen, states, args.temperature), 4),
                                      **held_out(model, tok, cfg, args.temperature)})
                print(rows[-1], flush=True)
        with torch.no_grad():
            for p, p0 in zip(model.parameters(), parent):
                p.copy_(p0)
        print(f"{kind}: {time.time() - t0:.0f} s", flush=True)
    return rows


def training(cfg, args) -> list[dict]:
    """Each arm trained from the parent on the same fresh train problems."""
    arms = [Arm.parse(a) for a in args.train.split(",")]
    count = max(a.problems_per_update * a.updates for a in arms)
    problems, _ = split_problems("train", count, cfg.mix, seed=cfg.seed + 400)
    rows = [{"arm": "parent", **held_out(*load_generator(args.parent), cfg, args.temperature)}]
    for arm in arms:
        t0 = time.time()
        model, tok = load_generator(args.parent)
        stats = train_arm(model, tok, make_generator(model, tok), problems, arm, args.siblings, args.temperature,
                          args.lr)
        model.eval()
        rows.append({"arm": arm.kind, "problems_per_update": arm.problems_per_update, "updates": arm.updates,
                     "lr": args.lr, **stats, **held_out(model, tok, cfg, args.temperature),
                     "wall_s": round(time.time() - t0, 1)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent", type=Path, required=True, help="generator checkpoint")
    parser.add_argument("--states", default=",".join(STATE_KINDS),
                        help=f"line search: comma list of {', '.join(STATE_KINDS)} ('' skips it)")
    parser.add_argument("--problems", default="300,1200", help="line search: train problems per state kind")
    parser.add_argument("--scales", default="0.01,0.03,0.1", help="line search: distances along the unit gradient")
    parser.add_argument("--train", default="grpo:16:40,sft:16:40,grpo:64:20,sft:64:20",
                        help="training arms ARM:PROBLEMS_PER_UPDATE:UPDATES, ARM grpo or sft ('' skips them)")
    parser.add_argument("--lr", type=float, default=1e-4, help="training: Adam learning rate")
    parser.add_argument("--siblings", type=int, default=16, help="sampled next steps per state (group size)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--val", type=int, default=500, help="held-out validation problems")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/step-grpo"))
    args = parser.parse_args()

    cfg = preset(args.preset)
    cfg.eval_problems = args.val
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"parent": str(args.parent), "siblings": args.siblings, "temperature": args.temperature,
            "val_problems": args.val}
    parts = (("line_search", args.states, lambda: line_search(*load_generator(args.parent), cfg, args)),
             ("training", args.train, lambda: training(cfg, args)))
    for name, wanted, run in parts:
        if wanted:
            rows = run()
            (args.out / f"{name}.json").write_text(json.dumps(meta | {"rows": rows}, indent=2) + "\n")
            print(f"{name}:\n" + pd.DataFrame(rows).to_string(index=False), flush=True)


if __name__ == "__main__":
    main()

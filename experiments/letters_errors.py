"""Why the shipped generator counts letters badly: does it fail to spell the word, or to count?

Each test problem of `letters` is solved greedily; the first step the exact checker rejects
(`tasks.letters.check_steps`) is classed as a *spelling* error (the step's letters are not the word's next
chunk), a *count* error (the letters are right, the running count is not) or an *answer* error (every chunk
right, the answer line wrong or missing). `accuracy` grades the answer alone, `chain_right` the whole chain: an
answer can be right under a wrong chain (a count of 0 often is). Problems are split by whether their word is
one the generator saw in training (`letters.held_out`: one word in ten is kept out of train and validation, and
half of the test problems ask about such a word) and by level.

    python -m experiments.letters_errors --problems 400 --out experiments/results/letters-errors

Writes OUT/letters_errors.json and prints the table.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pandas as pd

from reasoning_core.backends import load as load_generator
from reasoning_core.budget import Budget
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks import get_task, letters


def first_error(problem: str, steps: list[str]) -> str:
    """'none' for a right chain, else the kind of its first wrong step: spelling, count or answer."""
    labels, gold = letters.check_steps(problem, steps), letters.parse(problem).steps()
    if all(labels) and len(steps) == len(gold):
        return "none"
    k = labels.index(False) if not all(labels) else len(steps)
    if k >= len(gold) - 1 or k >= len(steps):
        return "answer"
    written, expected = (s.split("->")[0].split() for s in (steps[k], gold[k]))
    return "spelling" if written != expected else "count"


def classify(generator, examples) -> pd.DataFrame:
    task, config = get_task("letters"), make_config("greedy", 1)
    rows = []
    for ex in examples:
        result = solve("greedy", Problem(ex.problem, task, reference=ex.reference), generator, None, Budget(), config)
        steps = [node["text"] for node in result.best_path()]
        question = letters.parse(ex.problem)
        rows.append({"seen_word": not letters.held_out(question.word), "level": ex.difficulty,
                     "word_length": len(question.word), "correct": bool(result.correct),
                     "first_error": first_error(ex.problem, steps)})
    return pd.DataFrame(rows)


def shares(g: pd.DataFrame, **keys) -> dict:
    """One table row: answer accuracy, right chains and the kinds of first error among `g`'s problems."""
    kinds = Counter(g.first_error)
    return {**keys, "n": len(g), "accuracy": round(g.correct.mean(), 3),
            "chain_right": round(kinds["none"] / len(g), 3),
            **{f"first_error_{k}": round(kinds[k] / len(g), 3) for k in ("spelling", "count", "answer")}}


def summary(table: pd.DataFrame) -> list[dict]:
    """Per seen/unseen word and level, then per seen/unseen over all levels."""
    by_level = table.groupby(["seen_word", "level"])
    return [shares(g, seen_word=bool(seen), level=int(level)) for (seen, level), g in by_level] \
        + [shares(g, seen_word=bool(seen), level="all") for seen, g in table.groupby("seen_word")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", default="default")
    parser.add_argument("--problems", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="experiments/results/letters-errors")
    args = parser.parse_args()
    generator = load_generator(args.generator)
    examples = letters.generate("test", args.problems, seed=args.seed)
    rows = summary(classify(generator, examples))
    print(pd.DataFrame(rows).to_string(index=False))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "letters_errors.json").write_text(json.dumps({"generator": args.generator, "problems": args.problems,
                                                          "seed": args.seed, "rows": rows}, indent=2))
    print(f"wrote {out / 'letters_errors.json'}")


if __name__ == "__main__":
    main()

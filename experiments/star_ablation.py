"""What STaR's self-generated chains add: the STaR stage against the same stage trained on its replayed
SFT rows alone (same parent, rounds, steps, learning rate and replay rows; `StarConfig.self_chains`
is the only difference).

    python -m experiments.star_ablation --parent runs/tiny/sft --verifier runs/tiny/verifier
    python -m experiments.star_ablation --parent runs/tiny/sft --verifier runs/tiny/verifier --test 500 \
        --out experiments/results/star-ablation

Writes OUT/star_ablation.json (per-round validation accuracy of both arms, test greedy accuracy of the
parent and both arms) and OUT/work/<arm>/ (each arm's checkpoint, not committed).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd

from training.config import preset
from training.data import split_problems
from training.pipeline import load_generator, run_star
from training.sampling import greedy_accuracy

ARMS = {"STaR (verified self chains + replay)": True, "replay only (control)": False}


def test_accuracy(path: Path, problems: list[str], refs: list[str]) -> float:
    model, tok = load_generator(path)
    return round(greedy_accuracy(model, tok, problems, refs, desc=f"test {path.name}"), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent", type=Path, required=True, help="generator checkpoint STaR starts from")
    parser.add_argument("--verifier", type=Path, help="step verifier that filters the kept chains")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--test", type=int, default=500, help="held-out test problems for the final accuracy")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/star-ablation"))
    args = parser.parse_args()

    cfg = preset(args.preset)
    problems, refs = split_problems("test", args.test, cfg.mix)
    rows, result = [], {"parent": str(args.parent), "verifier": str(args.verifier), "preset": args.preset,
                        "star": dataclasses.asdict(cfg.star), "test_problems": args.test,
                        "test_greedy_acc": {"parent (round 0)": test_accuracy(args.parent, problems, refs)}}
    for arm, self_chains in ARMS.items():
        out = args.out / "work" / ("star" if self_chains else "replay_only")
        shutil.rmtree(out, ignore_errors=True)
        arm_cfg = dataclasses.replace(cfg, star=dataclasses.replace(cfg.star, self_chains=self_chains))
        metrics = run_star(arm_cfg, args.parent, out, verifier=args.verifier)
        result["test_greedy_acc"][arm] = test_accuracy(out, problems, refs)
        rows += [{"arm": arm, "round": r["round"], "val_greedy_acc": r["val_greedy_acc"],
                  "kept_chains": r.get("train_rows"), "trained_on": r.get("trained_on")} for r in metrics["rounds"]]
    result["rounds"] = rows
    (args.out / "star_ablation.json").write_text(json.dumps(result, indent=2) + "\n")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"\ntest greedy accuracy ({args.test} problems):")
    for arm, acc in result["test_greedy_acc"].items():
        print(f"  {arm:40s} {acc:.3f}")


if __name__ == "__main__":
    main()

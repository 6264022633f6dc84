"""Checkpoint folders: atomic stage outputs, meta.json, model cards and `stepwise.json`.

A stage writes into `DIR/.tmp-<stage>` and only when everything (weights, tokenizer, card, meta) is
on disk is the folder renamed to `DIR/<stage>` with `os.replace`; so a `kill -9` at any moment
leaves either no `DIR/<stage>` or a complete one, and a rerun simply redoes the interrupted stage.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)
META = "meta.json"
# how the core reads each reward checkpoint (`reasoning_core.rewards.step_format`)
STEPWISE = {"prm": {"kind": "prm", "task": "steps", "step_separator": "\n", "good_label": 1},
            "orm": {"kind": "orm", "task": "steps", "step_separator": "\n", "good_label": 1},
            "verifier": {"kind": "agreement", "task": "steps", "step_separator": "\n"},
            "implicit": {"kind": "implicit", "task": "steps", "step_separator": "\n"}}
KEEP_SUFFIXES = (".json", ".safetensors", ".md", ".txt", ".jsonl", ".jinja")


# the pipeline's stages in the order they run, each writing the folder of its name
STAGES = ("sft", "verifier", "star", "labels", "prm", "orm", "grpo")


def check_stages(names: Sequence[str]) -> None:
    """A ValueError naming the valid stages when one of `names` is none of them."""
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; valid: {', '.join(STAGES)}")


def is_complete(path: str | Path) -> bool:
    """A stage output counts as done only if its meta.json (written last) is there."""
    return (Path(path) / META).is_file()


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary sibling folder; on success move it to `final` in one rename."""
    final = Path(final)
    tmp = final.parent / f".tmp-{final.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    yield tmp
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _card(stage: str, kind: str, parent: str | None, metrics: dict, config: dict) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items()) or "| (none) | |"
    tasks = list(config.get("mix", {}).get("weights", {})) or ["arith"]
    use = {
        "generator": "a causal LM generator: `AutoModelForCausalLM` + `AutoTokenizer`",
        "prm": "a process reward model: `AutoModelForTokenClassification`; the step score is "
               "P(class 1) at the newline that ends each step",
        "verifier": "an agreement verifier: `AutoModelForCausalLM`; a step scores exp(log P(written token) - "
                    "log P(top token)) at its worst token (`reasoning_core.rewards.AgreementVerifier`)",
        "orm": "an outcome reward model: `AutoModelForSequenceClassification`; the score is "
               "softmax(logits)[1] for the whole chain",
        "implicit": "an implicit process reward model: `AutoModelForCausalLM` and its reference LM (the parent's "
                    "weights, `reference.safetensors`); a step scores sigmoid(beta * the sum of log P(token) - "
                    "log P_ref(token) over the steps up to it) (`reasoning_core.rewards.ImplicitPRM`)",
    }[kind]
    return f"""---
library_name: transformers
tags: [stepwise, {", ".join(tasks)}, {kind}]
---
# stepwise `{stage}` ({kind})

Trained on CPU by `python -m training` (stage `{stage}`) for the built-in generated tasks
{", ".join(f"`{t}`" for t in tasks)} (`reasoning_core.tasks`). Load it as {use}.

Input format: `Question: Compute left to right: 17 + 25 * 3\\nAnswer:\\n` followed by the steps,
each ending in `\\n`; the last step is `The answer is N`. Tokenizer: one token per character.

Parent checkpoint: `{Path(parent).name if parent else 'none (from scratch)'}`

## Metrics
| metric | value |
|---|---|
{rows}

## Config
```json
{json.dumps(config, indent=2, default=str)}
```
"""


def save_checkpoint(path: str | Path, model, tokenizer, *, stage: str, kind: str, parent: str | None,
                    config: dict, metrics: dict, settings: dict | None = None) -> None:
    """Weights (safetensors), tokenizer, model card, meta.json and, for reward models, stepwise.json
    (`STEPWISE[kind]`, then `settings`). Optimizer states, trainer checkpoints and training_args.bin are
    never written here."""
    path = Path(path)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    mix = config.get("mix", {})
    tasks = {"tasks": list(mix.get("weights", {})), "levels": mix.get("levels", {})}
    read_as = STEPWISE.get(kind, {"kind": kind}) | (settings or {})
    (path / "stepwise.json").write_text(json.dumps(read_as | tasks, indent=2) + "\n")
    for junk in path.iterdir():  # anything a trainer may have left behind
        if junk.is_dir():
            shutil.rmtree(junk)
        elif not junk.name.endswith(KEEP_SUFFIXES):
            junk.unlink()
    (path / "README.md").write_text(_card(stage, kind, parent, metrics, config))
    meta = {"stage": stage, "kind": kind, "parent": Path(parent).name if parent else None,
            "parent_path": parent, "config": config, "metrics": metrics, "git_commit": git_commit()}
    (path / META).write_text(json.dumps(meta, indent=2, default=str) + "\n")


def read_meta(path: str | Path) -> dict:
    return json.loads((Path(path) / META).read_text())

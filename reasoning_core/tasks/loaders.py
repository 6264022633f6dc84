"""Problem files: GSM8K- and MATH-format JSONL."""
from __future__ import annotations

import json
from pathlib import Path

from .answers import extract_answer, last_boxed
from .example import Example


def load_jsonl(path: str | Path) -> list[Example]:
    """Read GSM8K format ({"question", "answer": "...#### 42"}) or MATH format
    ({"problem", "solution" with \\boxed{}, optional "answer", "level"}) line by line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such problem file: {path}")
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
        out.append(_example(row, f"{path}:{lineno}"))
    return out


def _example(row: dict, where: str) -> Example:
    if "question" in row and "answer" in row:  # GSM8K
        reference = extract_answer(row["answer"])
        if reference is None:
            raise ValueError(f"{where}: GSM8K answer has no '#### <answer>' line")
        return Example(row["question"], reference)
    if "problem" in row and ("solution" in row or "answer" in row):  # MATH
        reference = row.get("answer") or last_boxed(row.get("solution", ""))
        if reference is None:
            raise ValueError(f"{where}: MATH row has neither 'answer' nor a \\boxed{{}} solution")
        level = str(row.get("level", ""))
        difficulty = int(level[-1]) if level[-1:].isdigit() else None
        return Example(row["problem"], str(reference), difficulty=difficulty)
    raise ValueError(f"{where}: expected GSM8K keys (question, answer) or MATH keys (problem, solution)")

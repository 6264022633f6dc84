"""Answer extraction (`\\boxed{}`, "The answer is", `####`) and grading with math-verify."""
from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

_ANSWER_IS = re.compile(r"[Tt]he (?:final )?answer is[:\s]*\$?([^\n$]+?)\$?\s*\.?\s*$", re.M)
_HASHES = re.compile(r"####\s*([^\n]+?)\s*$", re.M)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


def extract_answer(text: str) -> str | None:
    """The final answer a chain states, or None when it states none."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    for pattern in (_HASHES, _ANSWER_IS):
        matches = pattern.findall(text)
        if matches:
            return matches[-1].strip().rstrip(".").replace(",", "") or None
    return None


def _normalise(s: str) -> str:
    return re.sub(r"\s+", "", s).rstrip(".").replace(",", "").lstrip("+")


def is_equivalent(answer: str, reference: str) -> bool:
    """Exact match after light normalisation, else math-verify's symbolic comparison."""
    if _normalise(answer) == _normalise(reference):
        return True
    try:
        from math_verify import parse, verify
    except ImportError:  # pragma: no cover - math-verify is a hard requirement
        logger.warning("math-verify is not installed; falling back to exact match")
        return False
    try:
        gold = parse(f"${reference}$") or parse(reference)
        pred = parse(f"${answer}$") or parse(answer)
        return bool(gold and pred and verify(gold, pred))
    except Exception:  # math-verify raises on unparsable LaTeX: that is simply "not equal"
        return False

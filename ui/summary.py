"""A finished search in words and as the dict API clients read."""
from __future__ import annotations

from typing import Any

from reasoning_core.run import SearchResult
from reasoning_core.tasks import coverage_notice


def verdict(correct: bool | None) -> str:
    return "–" if correct is None else ("✓ correct" if correct else "✗ wrong")


def summary_dict(result: SearchResult) -> dict[str, Any]:
    """The machine-readable end of a search (also what API clients read)."""
    s = result.stats
    return {"strategy": result.strategy, "answer": result.answer, "reference": result.problem.reference,
            "correct": result.correct, "status": result.status,
            "generated_tokens": s.get("generated_tokens"), "generator_calls": s.get("generator_calls"),
            "reward_calls": s.get("reward_calls"), "nodes": s.get("nodes"), "wall_s": round(s.get("wall_s", 0.0), 3)}


def summary_markdown(result: SearchResult) -> str:
    d = summary_dict(result)
    ref = "" if d["reference"] is None else f" (reference {d['reference']})"
    status = {"done": "finished", "budget": "stopped by the budget",
              "cancelled": "stopped by you"}.get(d["status"], d["status"])
    return (f"### Answer: {d['answer'] if d['answer'] is not None else '— none —'}  {verdict(d['correct'])}{ref}\n"
            f"{d['strategy']}, {status} · used {d['generated_tokens']} tokens, {d['generator_calls']} generator calls, "
            f"{d['reward_calls']} reward calls, {d['nodes']} nodes, {d['wall_s']:.2f} s")


def coverage_note(problem_text: str, generator: Any) -> str:
    """A warning line above the result when the loaded generator was not trained on this kind of problem
    (`tasks.coverage_notice`); empty otherwise."""
    notice = coverage_notice(problem_text, getattr(generator, "tasks", None))
    return f"> ⚠️ {notice}\n\n" if notice else ""

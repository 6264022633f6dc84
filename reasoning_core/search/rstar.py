"""rStar (Qi et al. 2024): MCTS whose actions are five kinds of reasoning move, then a mutual-consistency
check by a discriminator model, then a final choice from three scores.

Actions (the node `kind` shows which made a node):
  step        A1  propose one next step
  complete    A2  propose all remaining steps at once (one node holding several steps)
  subquestion A3  propose a sub-question together with its answer
  reanswer    A4  answer the last sub-question (or step) again, from its question part
  rephrase    A5  rephrase the problem (root only); the chain below restarts from the rephrasing
Each task says which moves it supports through an `ActionFormat`: the built-in arith task writes one
operation per step, so a step already *is* a sub-question ("42 * 3") with its answer ("126"): it
supports step, complete and reanswer; free-form math supports all five with instruct prompts.

Values come from rollouts (greedy completions, PRM-scored). The discriminator masks the tail of each
finished trajectory, completes it again (a second model, or the generator itself) and calls the
trajectory consistent when both reach the same answer. The answer is the trajectory with the highest
answer frequency x process score (PRM value) among the consistent ones (all, if none is).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from ..budget import BudgetExhausted
from ..knobs import knob
from ..tree import Event, Node, NodeAdded
from .base import InputError, Search, SearchConfig, Strategy, best_scored
from .puct import search_loop

ACTIONS = ("step", "complete", "subquestion", "reanswer", "rephrase")


@dataclass(frozen=True)
class ActionFormat:
    """How a task's prompts express the rStar moves. `answer_marker` ends the question part of a
    step (what a re-answer keeps); `subquestion_lead` starts a sub-question step; None = unsupported."""

    answer_marker: str
    subquestion_lead: str | None = None
    rephrase_template: str | None = None

    def supports(self, action: str) -> bool:
        return {"subquestion": self.subquestion_lead is not None,
                "rephrase": self.rephrase_template is not None}.get(action, True)


ACTION_FORMATS: dict[str, ActionFormat] = {
    "arith": ActionFormat(answer_marker=" ="),
    "math": ActionFormat(
        answer_marker=" Answer:",
        subquestion_lead="Sub-question:",
        rephrase_template=("Rephrase the problem below so that every condition and number is stated "
                           "plainly. Write only the rephrased problem.\n\nProblem: {problem}\n\n"
                           "Rephrased problem:")),
}


@dataclass
class RStarConfig(SearchConfig):
    iterations: int = knob(16, "iterations", "MCTS rounds over rStar's actions", low=1)
    per_action: int = knob(2, "samples per action", "children per action at each expansion ('complete' makes one)",
                           low=1)
    actions: tuple[str, ...] = ACTIONS
    c_puct: float = knob(1.0, "c_puct", "exploration constant of PUCT", low=0.0)
    rollout_depth: int = knob(6, "rollout depth", "greedy rollout steps for values", low=0)
    mask_ratio: float = knob(0.5, "mask ratio", "share of a trajectory the discriminator is shown", low=0.0, high=1.0)
    discriminator: Any = None    # a second Generator; None = the generator checks itself
    size_field: ClassVar[str] = "iterations"

    def validate(self) -> None:
        super().validate()
        unknown = set(self.actions) - set(ACTIONS)
        if unknown or not self.actions:
            raise InputError(f"unknown rStar actions {sorted(unknown)}; valid: {', '.join(ACTIONS)}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise InputError(f"mask_ratio must be between 0 and 1, got {self.mask_ratio}")


def action_format(search: Search) -> ActionFormat:
    return ACTION_FORMATS.get(search.problem.task.name, ACTION_FORMATS["math"])


def question_part(text: str, fmt: ActionFormat) -> str | None:
    """"42 * 3 = 126" -> "42 * 3 =": what a re-answer keeps (None when the step has no answer)."""
    at = text.rfind(fmt.answer_marker)
    return text[: at + len(fmt.answer_marker)] if at > 0 else None


def expand_actions(search: Search, leaf: Node) -> Iterator[Event]:
    """One expansion of `leaf` by every applicable action, one batched call per action."""
    config, fmt = search.config, action_format(search)
    wanted = [a for a in config.actions if fmt.supports(a)]
    new_ids: list[int] = []

    def add(events: list) -> Iterator[Event]:
        yield from events
        new_ids.extend(e.node_id for e in events if isinstance(e, NodeAdded))

    if "rephrase" in wanted and leaf.id == 0:
        yield from add(search.expand([0], 1, kind="rephrase", prefixes=[
            fmt.rephrase_template.format(problem=search.problem.text)]))  # type: ignore[union-attr]
    if "step" in wanted:
        yield from add(search.expand([leaf.id], config.per_action, merge=True))
    if "subquestion" in wanted:
        yield from add(search.expand([leaf.id], config.per_action, kind="subquestion", merge=True,
                                     lead=fmt.subquestion_lead + " "))  # type: ignore[operator]
    question = question_part(leaf.text, fmt) if leaf.kind in ("step", "subquestion", "reanswer") else None
    if "reanswer" in wanted and question is not None and leaf.parent is not None:
        yield from add(search.expand([leaf.parent], 1, kind="reanswer", lead=question, temperature=0.0))
    if "complete" in wanted:
        yield from add(complete(search, leaf))
    yield from search.score(new_ids)
    return new_ids


def expand_each(search: Search, leaves: list[Node]) -> Iterator[Event]:
    """`expand_actions` for each selected leaf (rStar selects one leaf at a time)."""
    new = {}
    for leaf in leaves:
        new[leaf.id] = yield from expand_actions(search, leaf)
    return new


def complete(search: Search, leaf: Node) -> list[Event]:
    """A2: the rest of the chain as one node, written greedily step by step."""
    try:
        search.meter.require_nodes(1)
    except BudgetExhausted:  # the other actions may still fit: skip this one, as a full tree would
        return []
    rest = search.rollout([leaf.id], search.config.max_steps - leaf.depth, temperature=0.0)[leaf.id]
    if not rest:
        return []
    text = search.delimiter.join(c.text for c in rest)
    answer = search.problem.task.extract_answer(rest[-1].text)
    return [search.add_node(leaf.id, text, logprob=sum(c.logprob for c in rest),
                            num_tokens=sum(c.num_tokens for c in rest), terminal=True, answer=answer,
                            kind="complete")]


def discriminate(search: Search, leaves: list[Node]) -> dict[int, bool]:
    """Mutual consistency: show the discriminator the first `mask_ratio` of each trajectory's nodes,
    let it finish greedily, and keep the trajectory when it reaches the same answer."""
    config = search.config
    cuts = {}
    for leaf in leaves:
        path = search.tree.path(leaf.id)
        keep = max(1, min(len(path) - 1, round(len(path) * config.mask_ratio)))
        cuts[leaf.id] = path[keep - 1].id if len(path) > 1 else 0
    finishes = search.rollout(sorted(set(cuts.values())), config.max_steps, model=config.discriminator)
    out = {}
    for leaf in leaves:
        rest = finishes.get(cuts[leaf.id], [])
        answer = search.problem.task.extract_answer(rest[-1].text) if rest else None
        out[leaf.id] = answer is not None and search.problem.task.is_correct(answer, leaf.answer)  # type: ignore[arg-type]
    return out


def explore(search: Search) -> Iterator[Event]:
    """MCTS over the actions, then the discriminator's vote; returns the chosen leaf."""
    yield from search_loop(search, expand_each)
    leaves = [n for n in search.tree.terminals() if n.answer is not None]
    if not leaves:
        return None
    consistent = discriminate(search, leaves)
    votes = Counter(n.answer for n in leaves)
    pool = [n for n in leaves if consistent[n.id]] or leaves

    def final_score(n: Node) -> tuple[float, float, int]:
        return (votes[n.answer] / len(leaves) * (n.value if n.value is not None else 0.5), n.logprob, -n.id)

    search.info.update(trajectories=len(leaves), consistent=sum(consistent.values()),
                       kinds=dict(Counter(n.kind for n in search.tree.nodes.values() if n.id)))
    return max(pool, key=final_score).id


rstar = Strategy("rstar", RStarConfig, explore, best_scored, doc=__doc__)

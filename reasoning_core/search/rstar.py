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

Each iteration expands the selected leaf by every applicable action, one batched generator call per action
(a rollout per step for 'complete') and one reward call for all the new nodes; with `leaves_per_call` K > 1,
K leaves are selected under virtual loss and expanded together in those same calls, so 64 iterations cost
about 64/K expansions' worth of calls. Values come from rollouts (greedy completions, PRM-scored). The
discriminator masks the tail of each finished trajectory, completes it again (a second model, or the
generator itself) and calls the trajectory consistent when both reach the same answer. The answer is the
trajectory with the highest answer frequency x process score (PRM value) among the consistent ones (all,
if none is).
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
    leaves_per_call: int = knob(1, "leaves per call", "leaves selected at once (with virtual loss) and expanded in "
                                "one model call per action; 1 is classic rStar", low=1)
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


def expand_actions(search: Search, leaves: list[Node]) -> Iterator[Event]:
    """One expansion of every selected leaf by every applicable action: one batched generator call per
    action for all the leaves (rephrase only at the root), then one reward call for all the new nodes.
    Returns each leaf's new node ids (a re-answer is the leaf's sibling: it redoes the leaf's step)."""
    config, fmt = search.config, action_format(search)
    wanted = [a for a in config.actions if fmt.supports(a)]
    new: dict[int, list[int]] = {leaf.id: [] for leaf in leaves}

    def add(events: list, owners: list[int] | None = None) -> Iterator[Event]:
        """Yield `events`, crediting each added node to its parent (or to the leaf in `owners` that asked
        for it, one event per owner)."""
        yield from events
        for i, e in enumerate(events):
            if isinstance(e, NodeAdded):
                new[owners[i] if owners else e.parent_id].append(e.node_id)  # type: ignore[index]

    ids = [leaf.id for leaf in leaves]
    if "rephrase" in wanted and 0 in new:
        yield from add(search.expand([0], 1, kind="rephrase", prefixes=[
            fmt.rephrase_template.format(problem=search.problem.text)]))  # type: ignore[union-attr]
    if "step" in wanted:
        yield from add(search.expand(ids, config.per_action, merge=True))
    if "subquestion" in wanted:
        yield from add(search.expand(ids, config.per_action, kind="subquestion", merge=True,
                                     lead=fmt.subquestion_lead + " "))  # type: ignore[operator]
    questions = {leaf.id: question_part(leaf.text, fmt) for leaf in leaves
                 if leaf.kind in ("step", "subquestion", "reanswer") and leaf.parent is not None}
    redo = [leaf for leaf in leaves if questions.get(leaf.id) is not None]
    if "reanswer" in wanted and redo:  # one new node per parent: n=1 and no merging
        yield from add(search.expand([leaf.parent for leaf in redo], 1, kind="reanswer",  # type: ignore[misc]
                                     lead=[questions[leaf.id] for leaf in redo], temperature=0.0),
                       [leaf.id for leaf in redo])
    if "complete" in wanted:
        yield from add(complete(search, leaves))
    yield from search.score([i for node_ids in new.values() for i in node_ids])
    return new


def complete(search: Search, leaves: list[Node]) -> list[Event]:
    """A2: the rest of each chain as one node, written greedily step by step (one rollout for all)."""
    try:
        search.meter.require_nodes(len(leaves))
    except BudgetExhausted:  # the other actions may still fit: skip this one, as a full tree would
        return []
    rests = search.rollout([leaf.id for leaf in leaves],
                           {leaf.id: search.config.max_steps - leaf.depth for leaf in leaves}, temperature=0.0)
    events = []
    for leaf in leaves:
        rest = rests[leaf.id]
        if rest:
            events.append(search.add_node(
                leaf.id, search.delimiter.join(c.text for c in rest), logprob=sum(c.logprob for c in rest),
                num_tokens=sum(c.num_tokens for c in rest), terminal=True,
                answer=search.problem.task.extract_answer(rest[-1].text), kind="complete"))
    return events


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
    yield from search_loop(search, expand_actions)
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

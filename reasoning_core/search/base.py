"""What every strategy shares: the problem, the common config, and a `Search` context that grows
one `SearchTree` through metered, batched model calls and turns each change into an event."""
from __future__ import annotations

import copy
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..budget import Budget, BudgetExhausted, Cancelled, Meter
from ..knobs import check_knobs, knob
from ..protocols import AGGREGATIONS, Continuation, Generator, InputError, RewardModel, Task, aggregate
from ..tree import Event, Node, NodeAdded, NodeRepeated, SearchFinished, SearchTree

MAX_PROBLEM_CHARS = 20_000


@dataclass(frozen=True)
class Problem:
    text: str
    task: Task
    reference: str | None = None


def check_problem_text(text: str) -> str:
    """The problem stripped, or an InputError a user can act on (empty, longer than the limit, or holding a
    control character such as NUL, which no tokenizer reads as the user meant)."""
    text = text.strip()
    if not text:
        raise InputError("the problem is empty: type a question to solve")
    if len(text) > MAX_PROBLEM_CHARS:
        raise InputError(f"the problem is {len(text):,} characters long; the limit is {MAX_PROBLEM_CHARS:,}")
    control = next((i for i, c in enumerate(text) if unicodedata.category(c) == "Cc" and c not in "\n\t\r"), None)
    if control is not None:
        raise InputError(f"the problem contains a control character (U+{ord(text[control]):04X}) at character "
                         f"{control + 1}: remove it and try again")
    return text


@dataclass
class SearchConfig:
    """Settings every strategy understands; strategies subclass it with their own knobs (fields
    declared with `knob`, which the CLI and the UI are generated from).

    `size_field` names the knob that sets the strategy's size (N, iterations, rounds): what `eval`
    sweeps to trade compute for accuracy."""

    seed: int = knob(0, "seed", "sampling seed: same seed, same tree", low=0, high=2**31 - 1)
    temperature: float = knob(0.8, "temperature", "sampling temperature (greedy uses 0)", low=0.0)
    max_step_tokens: int = knob(48, "max step tokens", "token cap per step", low=1)
    max_steps: int = knob(12, "max steps", "depth cap of a chain", low=1)
    aggregation: str = knob("min", "aggregation", "how step scores make a path value", choices=AGGREGATIONS)
    size_field: ClassVar[str | None] = None

    def validate(self) -> None:
        """Every knob within its range; strategies add the checks that relate two knobs."""
        check_knobs(self)


@dataclass
class WidthConfig(SearchConfig):
    """N candidates scored per depth, M of them kept: what beam search and DVTS share."""

    n: int = knob(8, "N", "candidate steps scored per depth", low=1)
    width: int = knob(2, "beam width", "candidates M kept per depth (each proposes N/M steps)", low=1)
    size_field: ClassVar[str] = "n"

    def validate(self) -> None:
        super().validate()
        if self.width > self.n:
            raise InputError(f"beam width ({self.width}) cannot exceed the number of candidates n ({self.n})")


@dataclass
class Search:
    """One run's state: the tree, the meter and the helpers strategies compose."""

    problem: Problem
    generator: Generator
    reward: RewardModel | None
    budget: Budget
    config: SearchConfig
    cancel: threading.Event | None = None
    tree: SearchTree = field(default_factory=SearchTree)
    info: dict = field(default_factory=dict)  # facts a strategy reports with its answer

    def __post_init__(self) -> None:
        text = check_problem_text(self.problem.text)
        self.config.validate()
        self.meter = Meter(self.generator, self.reward, self.budget, self.cancel)
        self.prompt = self.problem.task.prompt(text)
        self.delimiter = self.problem.task.step_delimiter

    # --- text ----------------------------------------------------------------------------------
    def chain(self, node_id: int) -> tuple[str, list[tuple[Node, list[str]]]]:
        """The prompt and the (node, its steps) blocks of the chain ending at `node_id`. A "rephrase"
        node restarts the chain from its rephrased problem; a "complete" node holds several steps."""
        prompt, blocks = self.prompt, []
        for node in self.tree.path(node_id):
            if node.kind == "rephrase":
                prompt, blocks = self.problem.task.prompt(node.text), []
            else:
                steps = node.text.split(self.delimiter) if node.kind == "complete" else [node.text]
                blocks.append((node, steps))
        return prompt, blocks

    def prefix(self, node_id: int) -> str:
        """The generator's input for extending `node_id`: prompt, then each step and its delimiter."""
        prompt, blocks = self.chain(node_id)
        return prompt + "".join(node.text + self.delimiter for node, _ in blocks)

    def steps(self, node_id: int) -> list[str]:
        """The step texts a reward model judges for the chain ending at `node_id`."""
        return [step for _, steps in self.chain(node_id)[1] for step in steps]

    # --- growth --------------------------------------------------------------------------------
    def expand(self, parent_ids: Sequence[int], n: int, *, temperature: float | None = None,
               kind: str = "step", lead: str | Sequence[str] = "", prefixes: Sequence[str] | None = None,
               merge: bool = False) -> list[NodeAdded | NodeRepeated]:
        """Propose `n` next steps for every parent in ONE generator call and add them as children.

        `lead` is text every new step is forced to start with (e.g. a sub-question being re-answered), or a
        list of one lead per parent; `prefixes` replaces the usual generator inputs (actions that ask
        something other than the next step). With `merge`, a step identical to a sibling of the same kind
        adds no node: that sibling's `count` grows (`NodeRepeated`), so tree search spends its compute on
        distinct thoughts. Raises BudgetExhausted, adding nothing, when the new nodes would not all fit."""
        parent_ids = list(parent_ids)
        self.meter.require_nodes(len(parent_ids) * n)
        temp = self.config.temperature if temperature is None else temperature
        leads = [lead] * len(parent_ids) if isinstance(lead, str) else list(lead)
        inputs = list(prefixes) if prefixes is not None else [self.prefix(p) + x for p, x in zip(parent_ids, leads)]
        rows = self.meter.propose(inputs, n, stop=self.delimiter, max_new_tokens=self.config.max_step_tokens,
                                  temperature=temp, seed=self.next_seed())
        events: list[NodeAdded | NodeRepeated] = []
        for parent_id, lead_text, row in zip(parent_ids, leads, rows):
            depth = self.tree[parent_id].depth + 1
            for cont in row:
                text = lead_text + cont.text
                same = next((c for c in self.tree.children(parent_id) if (c.text, c.kind) == (text, kind)),
                            None) if merge else None
                if same is not None:
                    events.append(self.tree.repeat(same.id))
                    continue
                answer = self.problem.task.extract_answer(text) if kind != "rephrase" else None
                ended = cont.finished or answer is not None or depth >= self.config.max_steps
                terminal = kind != "rephrase" and ended
                events.append(self.add_node(parent_id, text, logprob=cont.logprob, num_tokens=cont.num_tokens,
                                            terminal=terminal, answer=answer, kind=kind))
        return events

    def add_node(self, parent_id: int, text: str, **fields) -> NodeAdded:
        """The one way a strategy grows the tree: the Meter counts (and caps) every node."""
        self.meter.count_nodes(1)
        return self.tree.add(parent_id, text, **fields)

    def rollout(self, node_ids: Sequence[int], max_steps: int | Mapping[int, int], *, temperature: float = 0.0,
                model: Generator | None = None) -> dict[int, list[Continuation]]:
        """Continue each chain, outside the tree, until it states an answer or `max_steps` more steps (a
        mapping gives each node its own cap); one batched call per step. For value estimates and checks,
        not search decisions (their tokens still count)."""
        chains: dict[int, list[Continuation]] = {i: [] for i in node_ids if not self.tree[i].terminal}
        caps = max_steps if isinstance(max_steps, Mapping) else dict.fromkeys(chains, max_steps)
        for _ in range(max(caps.values(), default=0)):
            open_ids = [i for i, c in chains.items() if len(c) < caps[i]
                        and not (c and (c[-1].finished or self.problem.task.extract_answer(c[-1].text)))]
            if not open_ids:
                break
            rows = self.meter.propose(
                [self.prefix(i) + "".join(c.text + self.delimiter for c in chains[i]) for i in open_ids], 1,
                stop=self.delimiter, max_new_tokens=self.config.max_step_tokens, temperature=temperature,
                seed=self.next_seed(), model=model)
            for i, row in zip(open_ids, rows):
                chains[i].append(row[0])
        return chains

    def score(self, node_ids: Sequence[int], *, whole_path: bool = False) -> list[Event]:
        """Score the chains ending at `node_ids` in ONE reward call; each node gets its step score
        (the lowest of its steps when it holds several) and the aggregate of its chain's scores so far
        as value. With `whole_path`, every unscored node on each chain is scored from the same call
        (chains sampled to the end, then verified). Without a reward model, nothing happens."""
        if self.reward is None or not node_ids:
            return []
        chains = {i: self.chain(i)[1] for i in node_ids}
        scorable = [i for i in node_ids if chains[i]]  # a bare rephrase has no step to judge yet
        rows = self.meter.score(self.problem.text, [[s for _, steps in chains[i] for s in steps] for i in scorable])
        events: list[Event] = []
        for node_id, row in zip(scorable, rows):
            end = 0
            for node, steps in chains[node_id]:
                start, end = end, end + len(steps)
                if node.id == node_id or (whole_path and node.score is None):
                    events.append(self.tree.set_score(node.id, min(row[start:end]),
                                                      aggregate(row[:end], self.config.aggregation)))
        return events

    def extend_chains(self, leaf_ids: Sequence[int], *, temperature: float | None = None) -> Iterator[Event]:
        """Grow each chain one step at a time until every one has ended, one batched call per step.
        Returns (via StopIteration.value) the ids of the final leaves, in input order."""
        leaves = list(leaf_ids)
        while True:
            open_ids = [i for i in leaves if not self.tree[i].terminal]
            if not open_ids:
                return leaves
            added = self.expand(open_ids, 1, temperature=temperature)
            yield from added
            extended = {self.tree[a.node_id].parent: a.node_id for a in added}
            leaves = [extended.get(i, i) for i in leaves]

    def handover(self, config: SearchConfig) -> Search:
        """The same run (tree, meter, facts) under another strategy's config, for handing a search
        over to that strategy; this search's own config is left as it was."""
        child = copy.copy(self)
        child.config = config
        return child

    def next_seed(self) -> int:
        """A fresh, reproducible seed per model call."""
        return self.config.seed * 1_000_003 + self.meter.stats.generator_calls

    # --- ending --------------------------------------------------------------------------------
    def finish(self, leaf_id: int | None, status: str) -> Iterator[Event]:
        """Mark the chosen path and close the stream with the answer and what was used."""
        if leaf_id is not None and leaf_id != 0:
            yield self.tree.select(leaf_id)
        answer = self.tree[leaf_id].answer if leaf_id is not None else None
        stats = self.meter.finish()
        yield SearchFinished(answer=answer, leaf_id=leaf_id, status=status, stats=stats.to_dict(),
                             info=dict(self.info))

    def best(self, nodes: Sequence[Node]) -> Node | None:
        return best_node(nodes)

    def fallback_leaf(self) -> int | None:
        """The best thing to report when a search stops early: the best answered chain if any,
        else the best (deepest on ties) partial chain."""
        answered = [n for n in self.tree.terminals() if n.answer is not None]
        if answered:
            return self.best(answered).id  # type: ignore[union-attr]
        leaves = self.tree.leaves()
        if not leaves:
            return None
        return max(leaves, key=lambda n: (n.depth, n.value or 0.0, n.logprob, -n.id)).id


def require_reward(reward: RewardModel | None, strategy: str) -> None:
    """Verifier-guided strategies fail before any sampling when no verifier was given."""
    if reward is None:
        raise InputError(f"{strategy} needs a reward model (a PRM or an ORM); pick one, or use greedy "
                         "or self_consistency, which need none")


def majority(nodes: Sequence[Node], weights: Sequence[float] | None = None) -> Node | None:
    """The node whose answer has the largest (weighted) vote; within that answer, the best node.
    Ties between answers go to the answer seen first, so the result is deterministic."""
    answered = [(n, w) for n, w in zip(nodes, weights or [1.0] * len(nodes)) if n.answer is not None]
    if not answered:
        return None
    votes: Counter[str] = Counter()
    for node, w in answered:
        votes[node.answer] += w  # type: ignore[index]
    first_seen = {n.answer: i for i, (n, _) in reversed(list(enumerate(answered)))}
    winner = max(votes, key=lambda a: (votes[a], -first_seen[a]))
    group = [(n, w) for n, w in answered if n.answer == winner]
    return max(group, key=lambda nw: (nw[1], nw[0].logprob, -nw[0].id))[0]


# ----- choosers: which finished chain a strategy answers with -----------------------------------


def best_node(nodes: Sequence[Node]) -> Node | None:
    """Highest value first, then higher log-prob, then lower id (deterministic ties)."""
    if not nodes:
        return None
    return max(nodes, key=lambda n: (n.value if n.value is not None else -1.0, n.logprob, -n.id))


def _scored(nodes: Sequence[Node]) -> list[Node]:
    return [n for n in nodes if n.value is not None and n.status != "pruned"]


def scored_choice(chains: Sequence[Node], config: SearchConfig) -> Node | None:
    """Among finished chains with a verifier value that were not pruned: the answer with the largest summed
    value when the config asks for a weighted vote (`weighted`), else the best chain."""
    done = _scored(chains)
    return majority(done, [n.value for n in done]) if getattr(config, "weighted", False) else best_node(done)  # type: ignore[misc]


def vote_choice(chains: Sequence[Node], config: SearchConfig) -> Node | None:
    """The majority answer (a verifier-free vote)."""
    return majority(chains)


def best_scored(search: Search) -> int | None:
    """The best verifier-valued chain that was not pruned."""
    node = best_node(_scored(search.tree.terminals()))
    return node.id if node else None


def verifier_choice(search: Search) -> int | None:
    """`scored_choice` over the search's finished chains."""
    node = scored_choice(search.tree.terminals(), search.config)
    return node.id if node else None


def run_guarded(search: Search, explore: Iterator[Event], choose: Callable[[], int | None]) -> Iterator[Event]:
    """Drive a search, turning budget exhaustion and cancellation into a clean finish. The leaf to
    report is the one `explore` returns when it ends by choosing (rStar's final vote), else `choose()`."""
    status, leaf = "done", None
    try:
        leaf = yield from explore
    except BudgetExhausted:
        status = "budget"
    except Cancelled:
        status = "cancelled"
    if leaf is None:
        leaf = choose()
    if leaf is None and status != "done":
        leaf = search.fallback_leaf()
    yield from search.finish(leaf, status)


@dataclass(frozen=True)
class Strategy:
    """A named search strategy: how it explores the tree, and which leaf it answers with.

    Calling it runs it: `strategy(problem, generator, reward, budget, config, cancel)` returns the
    event stream. `reward` says whether the strategy needs a verifier ("required"), shows its scores
    without being steered by them ("display"), or never calls one ("unused", a fair verifier-free
    baseline)."""

    name: str
    config_cls: type[SearchConfig]
    explore: Callable[[Search], Iterator[Event]]
    choose: Callable[[Search], int | None]
    reward: str = "required"
    doc: str = ""
    check: Callable[[SearchConfig], None] | None = None  # checks that need more than the config itself
    # set by strategies whose N chains are independent samples: the answer among any subset of them, so a
    # budget sweep can subsample one size-N pool (`eval.EvalSpec.pool`) instead of running every size
    pool_choose: Callable[[Sequence[Node], SearchConfig], Node | None] | None = None

    def configure(self, size: int | None = None, **overrides: Any) -> SearchConfig:
        """This strategy's config with `overrides` applied (unknown or None values are ignored, so one
        set of CLI/UI knobs serves every strategy) and its size knob (`size_field`) set to `size`."""
        cls = self.config_cls
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in overrides.items() if k in names and v is not None}
        if size is not None and cls.size_field is not None:
            kwargs[cls.size_field] = size
            if "width" in names:  # a beam cannot be wider than its candidates at small sizes
                kwargs["width"] = min(kwargs.get("width", cls.width), size)  # type: ignore[attr-defined]
        config = cls(**kwargs)
        self.validate(config)
        return config

    @property
    def summary(self) -> str:
        """The docstring's first paragraph on one line: what the strategy does and the paper it comes from
        (what the app shows beside the strategy picker)."""
        return " ".join(self.doc.strip().split("\n\n")[0].split())

    def validate(self, config: SearchConfig) -> None:
        config.validate()
        if self.check is not None:
            self.check(config)

    def __call__(self, problem: Problem, generator: Generator, reward: RewardModel | None, budget: Budget,
                 config: SearchConfig | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
        if self.reward == "required":
            require_reward(reward, self.name)
        config = config or self.config_cls()
        if self.check is not None:  # the Search validates the config itself
            self.check(config)
        search = Search(problem, generator, None if self.reward == "unused" else reward, budget, config, cancel)
        return run_guarded(search, self.explore(search), lambda: self.choose(search))

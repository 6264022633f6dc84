"""The Meter every model call goes through: what it counts, where each cap stops a search, and what it
hands the models, on recording stand-ins whose calls the tests can read back."""
from __future__ import annotations

import threading
import time
import types
from dataclasses import dataclass, field

import pytest

from reasoning_core.budget import Budget, BudgetExhausted, Cancelled, Meter, Stats
from reasoning_core.protocols import Continuation, InputError, ModelError


@dataclass
class Recorder:
    """A generator that writes `tokens` tokens per continuation and remembers every call's arguments."""

    tokens: int = 3
    calls: list[dict] = field(default_factory=list)
    rows: int | None = None   # answer with this many rows instead of one per prefix (a broken backend)
    on_call: object = None    # called during each call (e.g. to cancel mid-call)

    def propose(self, prefixes, n, *, stop, max_new_tokens, temperature, seed, cancel=None):
        self.calls.append({"prefixes": list(prefixes), "n": n, "max_new_tokens": max_new_tokens, "stop": stop,
                           "temperature": temperature, "seed": seed, "cancel": cancel})
        if callable(self.on_call):
            self.on_call()
        rows = len(prefixes) if self.rows is None else self.rows
        return [[Continuation("x", self.tokens, -1.0, False) for _ in range(n)] for _ in range(rows)]


@dataclass
class Scorer:
    calls: int = 0

    def score(self, problem, paths):
        self.calls += 1
        return [[0.5] * len(p) for p in paths]


def propose(meter: Meter, prefixes=("a", "b"), n: int = 2, max_new_tokens: int = 10):
    return meter.propose(list(prefixes), n, stop="\n", max_new_tokens=max_new_tokens, temperature=0.5, seed=7)


def test_a_call_is_counted_and_passed_on_as_asked():
    gen = Recorder(tokens=3)
    meter = Meter(gen, None, Budget())
    out = propose(meter)
    assert [len(row) for row in out] == [2, 2]
    (call,) = gen.calls
    assert call == {"prefixes": ["a", "b"], "n": 2, "max_new_tokens": 10, "stop": "\n", "temperature": 0.5,
                    "seed": 7, "cancel": meter.cancel}
    assert (meter.stats.generator_calls, meter.stats.generated_tokens) == (1, 12)


def test_nothing_to_generate_costs_no_call():
    gen = Recorder()
    meter = Meter(gen, None, Budget())
    assert propose(meter, prefixes=()) == []
    assert propose(meter, n=0) == [[], []]
    assert gen.calls == [] and meter.stats.generator_calls == 0


def test_the_token_cap_shrinks_a_call_to_what_is_left():
    gen = Recorder(tokens=1)
    meter = Meter(gen, None, Budget(max_tokens=9))  # 2 prefixes x 2 samples: 2 tokens each fit, not 3
    propose(meter, max_new_tokens=10)
    assert gen.calls[0]["max_new_tokens"] == 2 and meter.tokens_left == 5
    propose(meter)  # 5 left: one token each still fits
    assert gen.calls[1]["max_new_tokens"] == 1 and meter.tokens_left == 1
    with pytest.raises(BudgetExhausted, match=r"^generated tokens$"):
        propose(meter)
    assert len(gen.calls) == 2
    assert Meter(gen, None, Budget()).tokens_left is None


def test_the_generator_call_cap_stops_the_next_call():
    gen = Recorder()
    meter = Meter(gen, None, Budget(max_generator_calls=2))
    propose(meter)
    propose(meter)
    with pytest.raises(BudgetExhausted, match=r"^generator calls$"):
        propose(meter)
    assert meter.stats.generator_calls == 2


def test_a_backend_answering_the_wrong_shape_is_a_model_error():
    with pytest.raises(ModelError, match=r"^generator returned the wrong number of continuations$"):
        propose(Meter(Recorder(rows=1), None, Budget()))
    with pytest.raises(ModelError, match="wrong number of continuations"):
        Meter(Recorder(), None, Budget()).propose(["a"], 2, stop="\n", max_new_tokens=4, temperature=0, seed=0,
                                                  model=WrongN())


class WrongN(Recorder):
    def propose(self, prefixes, n, **kw):
        return super().propose(prefixes, n - 1, **kw)


def test_a_second_model_draws_on_the_same_budget():
    gen, second = Recorder(tokens=1), Recorder(tokens=2)
    meter = Meter(gen, None, Budget(max_generator_calls=2))
    propose(meter)
    meter.propose(["q"], 1, stop="\n", max_new_tokens=4, temperature=0, seed=0, model=second)
    assert (len(gen.calls), len(second.calls), meter.stats.generated_tokens) == (1, 1, 6)
    with pytest.raises(BudgetExhausted):
        propose(meter)


def test_scores_are_counted_checked_and_capped():
    scorer = Scorer()
    meter = Meter(Recorder(), scorer, Budget(max_reward_calls=1))
    assert meter.score("p", []) == [] and scorer.calls == 0
    assert meter.score("p", [["s1", "s2"]]) == [[0.5, 0.5]]
    assert meter.stats.reward_calls == 1
    twice = Meter(Recorder(), Scorer(), Budget())
    twice.score("p", [["s"]])
    twice.score("p", [["s"]])
    assert twice.stats.reward_calls == 2
    with pytest.raises(BudgetExhausted, match=r"^reward calls$"):
        meter.score("p", [["s1"]])
    with pytest.raises(ModelError, match=r"^this strategy needs a reward model, and none was given$"):
        Meter(Recorder(), None, Budget()).score("p", [["s"]])


def test_the_node_cap_counts_every_node_and_stops_before_the_one_too_many():
    meter = Meter(Recorder(), None, Budget(max_nodes=3))
    meter.require_nodes(3)
    meter.count_nodes(2)
    meter.count_nodes(1)
    assert meter.stats.nodes == 3
    with pytest.raises(BudgetExhausted, match=r"^nodes$"):
        meter.require_nodes(1)
    with pytest.raises(BudgetExhausted):
        meter.count_nodes(1)
    assert meter.stats.nodes == 3
    free = Meter(Recorder(), None, Budget())
    free.count_nodes(1000)
    assert free.stats.nodes == 1000


def test_cancelling_stops_before_and_right_after_a_call():
    cancel = threading.Event()
    gen = Recorder(on_call=cancel.set)
    meter = Meter(gen, Scorer(), Budget(), cancel)
    with pytest.raises(Cancelled):
        propose(meter)  # the call ran, its result is not handed on
    assert len(gen.calls) == 1
    with pytest.raises(Cancelled):
        propose(meter)
    assert len(gen.calls) == 1
    with pytest.raises(Cancelled):
        meter.score("p", [["s"]])


def test_wall_time_is_measured_from_the_start_and_capped():
    started = time.perf_counter()
    meter = Meter(Recorder(on_call=lambda: time.sleep(0.02)), None, Budget(max_wall_s=0.01))
    propose(meter)  # the first call starts in time
    with pytest.raises(BudgetExhausted, match=r"^wall time$"):
        propose(meter)
    stats = meter.finish()
    assert 0.02 <= stats.wall_s <= time.perf_counter() - started
    assert 0.02 <= stats.model_s <= stats.wall_s


def test_budget_caps_are_checked_in_their_own_words():
    for cap, message in (({"max_tokens": 0}, "max tokens must be at least 1"),
                         ({"max_generator_calls": -1}, "max generator calls must be at least 1"),
                         ({"max_wall_s": 0}, "max wall s must be at least 0.001")):
        with pytest.raises(InputError, match=message):
            Budget(**cap)
    assert Stats(generated_tokens=3).to_dict() == {"generated_tokens": 3, "generator_calls": 0, "reward_calls": 0,
                                                   "nodes": 0, "wall_s": 0.0, "model_s": 0.0}


class SlowScorer(Scorer):
    def score(self, problem, paths):
        time.sleep(0.01)
        return super().score(problem, paths)


def test_model_time_adds_up_over_every_generator_and_reward_call():
    meter = Meter(Recorder(on_call=lambda: time.sleep(0.01)), SlowScorer(), Budget())
    for _ in range(2):
        propose(meter)
        meter.score("p", [["s"]])
    assert 0.04 <= meter.stats.model_s <= meter.finish().wall_s


def test_the_wall_time_cap_stops_a_search_that_has_used_exactly_its_time(monkeypatch):
    from reasoning_core import budget as budget_module

    now = [100.0]
    monkeypatch.setattr(budget_module, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    meter = Meter(Recorder(), None, Budget(max_wall_s=2.0))
    now[0] = 101.5
    meter.check()
    now[0] = 102.0
    with pytest.raises(BudgetExhausted, match=r"^wall time$"):
        meter.check()

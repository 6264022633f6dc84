"""Prefix reuse (`kv_cache`): the states a generator or a reward model kept from earlier calls give what
reading every prefix afresh gives, so a search grows the same tree with the cache on and off."""
from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForTokenClassification, MistralConfig, MistralForCausalLM

from reasoning_core.backends import TransformersGenerator
from reasoning_core.budget import Budget
from reasoning_core.kv_cache import PrefixCache, reusable
from reasoning_core.rewards import AgreementVerifier, ChatPRM, OutcomeRM, StepTagPRM, TokenClassificationPRM
from reasoning_core.run import solve
from reasoning_core.search import Problem, make_config
from reasoning_core.tasks.arith import TASK as ARITH
from reasoning_core.tree import event_to_dict

from tiny_models import (
    SMALL,
    save_tiny_generator,
    save_tiny_orm,
    save_tiny_rlhflow_prm,
    save_tiny_step_tag_prm,
    save_tiny_token_prm,
)

PROBLEMS = ["17 + 25 * 3", "40 - 8 * 2 + 9"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_generator(tmp_path_factory.mktemp("generator"))


@pytest.fixture(scope="module")
def gen(folder):
    return TransformersGenerator(folder, device="cpu")


@pytest.fixture
def fresh(gen):
    """Two generators over one model: one reusing prefix states (starting empty), one reading in full."""
    return (TransformersGenerator(gen.model, gen.tokenizer),
            TransformersGenerator(gen.model, gen.tokenizer, prefix_cache_mb=0))


def reads(monkeypatch) -> list[int]:
    """Records how many leading columns of each batch came from a cache."""
    cached: list[int] = []
    batch = PrefixCache.batch

    def spy(self, *args, **kw):
        out = batch(self, *args, **kw)
        cached.append(out.cached)
        return out

    monkeypatch.setattr(PrefixCache, "batch", spy)
    return cached


def flat(rows: list[list[float]]) -> list[float]:
    return [x for row in rows for x in row]


def exact_and_floats(log: list[dict]) -> tuple[object, list[float]]:
    """An event log's exact part (ids, texts, kinds, counts) and, apart, its floats; wall times dropped."""
    floats: list[float] = []

    def walk(x):
        if isinstance(x, float):
            floats.append(x)
            return "<float>"
        if isinstance(x, dict):
            return {k: walk(v) for k, v in sorted(x.items()) if k not in ("wall_s", "model_s")}
        if isinstance(x, list | tuple):
            return [walk(v) for v in x]
        return x

    return walk(log), floats


# ----- the store ------------------------------------------------------------------------------------------


def states(n: int) -> tuple:
    return ((torch.zeros(1, n, 2), torch.zeros(1, n, 2)),)


def test_the_longest_stored_sequence_that_starts_the_ids_is_found(gen):
    cache = PrefixCache(gen.model)
    cache.put([1, 5, 6], states(3))
    cache.put([1, 5, 6, 7, 8], states(5))
    assert cache.longest([1, 5, 6, 7, 8, 9]).ids == (1, 5, 6, 7, 8)
    assert cache.longest([1, 5, 6, 7, 8]).ids == (1, 5, 6, 7, 8)
    assert cache.longest([1, 5, 6, 9, 8]).ids == (1, 5, 6)  # diverges inside the longer one
    assert cache.longest([1, 5]) is None and cache.longest([2, 5, 6]) is None


def test_the_least_recently_used_go_first_once_the_memory_is_spent(gen):
    cache = PrefixCache(gen.model, max_bytes=7 * 16)  # `states` takes 16 bytes a token
    cache.put([1, 2, 3], states(3))
    cache.put([4, 5], states(2))
    cache.longest([1, 2, 3, 9])  # used again: now the most recent
    cache.put([6, 7, 8], states(3))
    assert cache.bytes == 6 * 16 and cache.longest([4, 5]) is None and cache.longest([1, 2, 3]) is not None
    cache.put(list(range(10, 18)), states(8))  # longer than the whole budget: not kept
    assert cache.longest(list(range(10, 18))) is None and len(cache) == 2


def test_training_the_model_in_place_drops_what_was_kept(folder):
    model = TransformersGenerator(folder, device="cpu", prefix_cache_mb=0).model  # a copy of its own
    cache = PrefixCache(model)
    cache.put([1, 2, 3], states(3))
    with torch.no_grad():
        next(model.parameters()).mul_(1.0)  # any in-place write, as an optimizer step makes
    assert cache.longest([1, 2, 3, 4]) is None and len(cache) == 0


def test_only_causal_models_that_fill_a_cache_are_reused(gen):
    assert reusable(gen.model)
    bert = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    assert not reusable(BertForTokenClassification(bert).eval())  # it reads ahead


def test_a_batch_that_could_outgrow_a_sliding_window_is_read_whole():
    config = MistralConfig(vocab_size=50, bos_token_id=1, eos_token_id=2, sliding_window=16, **SMALL)
    model = MistralForCausalLM(config).eval()
    cache = PrefixCache(model)
    assert reusable(model) and cache.window == 16
    cache.put(list(range(3, 9)), states(6))
    entry = cache.longest(list(range(3, 12)))
    cpu = torch.device("cpu")
    assert cache.batch([list(range(3, 12))], [(entry, 8)], 0, cpu, extra=2).cached == 6
    whole = cache.batch([list(range(3, 12))], [(entry, 8)], 0, cpu, extra=8)
    assert whole.cached == 0 and not whole.storable


# ----- the generator ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("pad_left", [True, False])
def test_reused_states_give_the_logits_of_a_fresh_read(gen, pad_left):
    """Two rows reusing prefixes of different lengths in one padded batch: the logits at every position read
    are those of each row read alone, so positions are those of the unpadded rows."""
    tok, model = gen.tokenizer, gen.model
    seqs = [tok(ARITH.prompt(PROBLEMS[0]) + "17 + 25 = 42\n").input_ids, tok("5 - 3 = 2\n2 + 8 = 10\n").input_ids]
    cache = PrefixCache(model)
    for seq, cut in zip(seqs, (30, 10)):
        first = cache.batch([seq[:cut]], [(None, 0)], tok.pad_token_id, model.device)
        with torch.no_grad():
            model(**first.tail())
        first.store(cache, 0, seq[:cut])
    batch = cache.batch(seqs, [(cache.longest(seq), len(seq) - 1) for seq in seqs], tok.pad_token_id, model.device,
                        pad_left=pad_left)
    # padded on the left, every row reads the widest uncached part; else each row reads from where its states end
    assert batch.cached == (len(seqs[0]) - max(len(seqs[0]) - 30, len(seqs[1]) - 10) if pad_left else 30)
    assert batch.starts == ([0, len(seqs[0]) - len(seqs[1])] if pad_left else [0, 20])
    with torch.no_grad():
        logits = model(**batch.tail()).logits
        for row, seq in enumerate(seqs):
            alone = model(input_ids=torch.tensor([seq])).logits[0]
            first = max(batch.cached - batch.starts[row], 0)  # this row's first position read
            column = batch.starts[row] + first - batch.cached
            torch.testing.assert_close(logits[row, column:column + len(seq) - first], alone[first:],
                                       atol=1e-5, rtol=1e-5)


def texts_and_logprobs(rows) -> tuple[list, list[float]]:
    return [[(c.text, c.num_tokens, c.finished) for c in row] for row in rows], [c.logprob for row in rows for c in row]


def test_children_read_only_their_parents_new_step_and_sample_the_same(fresh, monkeypatch):
    cached = reads(monkeypatch)
    on, off = fresh
    args = dict(stop="\n", max_new_tokens=24, temperature=1.0)
    prefixes = [ARITH.prompt(p) for p in PROBLEMS]
    first = [texts_and_logprobs(gen.propose(prefixes, 3, seed=0, **args)) for gen in (on, off)]
    assert first[0][0] == first[1][0] and first[0][1] == pytest.approx(first[1][1], abs=1e-4)
    rows = on.propose(prefixes, 3, seed=0, **args)
    # steps that ended at their delimiter (one cut at max_new_tokens has a last token the model never read)
    children = [p + c.text + "\n" for p, row in zip(prefixes, rows) for c in row
                if not c.finished and c.num_tokens < args["max_new_tokens"]]
    cached.clear()
    second = [texts_and_logprobs(gen.propose(children, 2, seed=1, **args)) for gen in (on, off)]
    assert second[0][0] == second[1][0] and second[0][1] == pytest.approx(second[1][1], abs=1e-4)
    # each child's prefix was kept whole: only its last token is read (generate needs one to read)
    assert cached == [max(len(on.tokenizer(c).input_ids) for c in children) - 1, 0]  # calls: on, off


def test_rows_that_share_a_prompt_read_it_once(fresh, monkeypatch):
    """A search's first call samples N rows of one prompt (of two, here: their common words): that part is
    read once, in a row of its own, and the N rows start from its states; without a cache every row reads it."""
    cached = reads(monkeypatch)
    on, off = fresh
    prefixes = [ARITH.prompt(p) for p in PROBLEMS]
    ids = on.tokenizer(prefixes).input_ids
    common, widest = next(i for i, (a, b) in enumerate(zip(*ids)) if a != b), max(map(len, ids))
    read: list[int] = []  # token positions each call's passes read, pads included
    forward = type(on.model).forward

    def spy(self, *args, **kw):
        read[-1] += kw["input_ids"].numel()
        return forward(self, *args, **kw)

    monkeypatch.setattr(type(on.model), "forward", spy)
    for gen in (on, off):
        read.append(0)
        gen.propose(prefixes, 4, stop="\n", max_new_tokens=1, temperature=1.0, seed=0)
    assert cached == [0, common, 0]  # on: the shared row, then the batch from its states; off: every row whole
    assert read == [common + 8 * (widest - common), 8 * widest]


@pytest.mark.parametrize(("strategy", "knobs"), [
    ("beam_search", {"n": 8, "width": 2}),
    ("mcts", {"iterations": 8, "expansion_width": 3}),
    ("mcts", {"iterations": 8, "expansion_width": 3, "leaves_per_call": 4}),
    ("rstar", {"iterations": 6, "per_action": 2, "rollout_depth": 0, "max_steps": 3, "max_step_tokens": 12,
               "leaves_per_call": 3}),  # the second call expands two leaves
    ("best_of_n", {"n": 6}),
])
def test_a_search_grows_the_same_tree_with_and_without_reuse(strategy, knobs, folder, monkeypatch):
    """Same seed, same event stream: every id, text, status and count exact, every float to rounding.
    In float64: the tiny random model's next-token distributions are nearly flat, so in float32 a state read
    in another batch shape (rounding near 1e-6) moves a sampled token across a boundary it missed by 1e-7
    (seen once in 20 trees); a read from wrong states or positions differs by far more in either precision."""
    cached = reads(monkeypatch)
    model = TransformersGenerator(folder, device="cpu", dtype=torch.float64)
    fresh = (TransformersGenerator(model.model, model.tokenizer),
             TransformersGenerator(model.model, model.tokenizer, prefix_cache_mb=0))
    verifier = AgreementVerifier(folder, task="arith", device="cpu", dtype=torch.float64)
    plain = AgreementVerifier(folder, task="arith", device="cpu", prefix_cache_mb=0, dtype=torch.float64)
    for problem in PROBLEMS:
        for seed in (0, 3):
            config = make_config(strategy, None, seed=seed, **knobs)
            logs = [[event_to_dict(e) for e in solve(strategy, Problem(problem, ARITH), gen, reward, Budget(),
                                                     config).events]
                    for gen, reward in zip(fresh, (verifier, plain))]
            (exact_on, floats_on), (exact_off, floats_off) = map(exact_and_floats, logs)
            assert exact_on == exact_off
            assert floats_on == pytest.approx(floats_off, abs=1e-4)
    assert max(cached) > 0  # the searches did reuse states


def test_a_search_repeated_on_warm_models_grows_the_tree_it_grew_first(folder):
    """The models keep their caches between searches; each search starts from empty ones, so the second run
    of a search cannot break a score tie the other way (warm caches changed 2 of 120 repeated trees)."""
    gen = TransformersGenerator(folder, device="cpu")
    verifier = AgreementVerifier(folder, task="arith", device="cpu")
    config = make_config("beam_search", None, seed=1, n=8, width=2)
    runs = [[event_to_dict(e) for e in solve("beam_search", Problem(p, ARITH), gen, verifier, Budget(), config).events]
            for p in (PROBLEMS[0], PROBLEMS[1], PROBLEMS[0])]
    assert exact_and_floats(runs[0]) == exact_and_floats(runs[2])
    assert len(gen.prefix_cache) > 0  # the models did keep states between searches


# ----- reward models ----------------------------------------------------------------------------------------

PROBLEM = "17 + 25 * 3"
PARENTS = [["17 + 25 = 42"], ["17 + 25 = 40"]]
CHILDREN = [["17 + 25 = 42", "42 * 3 = 126"], ["17 + 25 = 42", "42 * 3 = 120"], ["17 + 25 = 40", "40 * 3 = 120"],
            ["17 + 25 = 42", "42 * 3 = 126", "The answer is 126"], ["x", "42 * 3 = 126"], ["17 + 25 = 42"]]


@pytest.fixture(scope="module", params=["agreement", "token", "step_tag", "orm", "chat"])
def reward_pair(request, folder, tmp_path_factory):
    """A reward model that reuses scored paths' states, and the same model read in full."""
    tmp = tmp_path_factory.mktemp(request.param)
    cls, make, options = {
        "agreement": (AgreementVerifier, lambda: folder, {"task": "arith"}),
        "token": (TokenClassificationPRM, lambda: save_tiny_token_prm(tmp, separator="\n"), {}),
        "step_tag": (StepTagPRM, lambda: save_tiny_step_tag_prm(tmp), {}),  # a sliding-window Mistral
        "orm": (OutcomeRM, lambda: save_tiny_orm(tmp, num_labels=2), {}),
        "chat": (ChatPRM, lambda: save_tiny_rlhflow_prm(tmp), {}),
    }[request.param]
    path = make()
    return cls(path, device="cpu", **options), cls(path, device="cpu", prefix_cache_mb=0, **options)


def test_a_path_extending_a_scored_one_scores_as_if_read_whole(reward_pair, monkeypatch):
    reward, plain = reward_pair
    assert reward.prefix_cache is not None and plain.prefix_cache is None
    cached = reads(monkeypatch)
    reward.score(PROBLEM, PARENTS)
    got = reward.score(PROBLEM, CHILDREN)
    expected = plain.score(PROBLEM, CHILDREN)
    assert [len(row) for row in got] == [len(row) for row in expected]
    assert flat(got) == pytest.approx(flat(expected), abs=1e-5)
    assert max(cached) > 0  # the children's shared steps were not read again
    calls = len(cached)
    assert flat(reward.score(PROBLEM, CHILDREN)) == pytest.approx(flat(got), abs=1e-6)
    if not isinstance(reward, OutcomeRM):  # a step scorer keeps its step scores: a path scored before is not read
        assert len(cached) == calls

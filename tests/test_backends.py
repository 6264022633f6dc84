"""Generator backends and model specs, over a tiny Llama imprinted on arith chains (built locally)."""
from __future__ import annotations

import importlib.util
import threading

import pytest
import torch

from reasoning_core import checkpoints
from reasoning_core.backends import TransformersGenerator, VLLMGenerator
from reasoning_core.backends import load as load_generator
from reasoning_core.protocols import Generator, ModelError
from reasoning_core.tasks.arith import TASK as ARITH

from tiny_models import save_tiny_generator

TASK = ARITH
PREFIXES = [TASK.prompt("17 + 25 * 3"), TASK.prompt("5 - 3 + 8") + "5 - 3 = 2\n", TASK.prompt("40 * 2")]
DONE = TASK.prompt("5 - 3 + 8") + "5 - 3 = 2\n2 + 8 = 10\nThe answer is"  # only the number is left
NO_VLLM = importlib.util.find_spec("vllm") is None


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_generator(tmp_path_factory.mktemp("generator"))


@pytest.fixture(scope="module")
def gen(folder):
    return TransformersGenerator(folder, device="cpu")


def propose(gen, prefixes=PREFIXES, n=4, **kw):
    args = dict(stop="\n", max_new_tokens=24, temperature=1.0, seed=0) | kw
    return gen.propose(prefixes, n, **args)


def assert_same(a, b):
    """The same continuations; log-probs to float rounding (reused prefix states are computed in other
    batches than a fresh read of the prefix)."""
    assert [[(c.text, c.num_tokens, c.finished) for c in row] for row in a] == \
        [[(c.text, c.num_tokens, c.finished) for c in row] for row in b]
    assert [c.logprob for row in a for c in row] == pytest.approx([c.logprob for row in b for c in row], abs=1e-4)


def test_char_tokenizer_round_trips_arith_text(gen):
    text = PREFIXES[1] + "2 + 8 = 10\nThe answer is 10"
    ids = gen.tokenizer(text).input_ids
    assert len(ids) == len(text) + 1  # one token per character, after BOS
    assert gen.tokenizer.decode(ids, skip_special_tokens=True) == text


def test_is_a_generator_with_pad_fallback(gen):
    assert isinstance(gen, Generator)
    assert gen.tokenizer.pad_token == gen.tokenizer.eos_token  # the tiny tokenizer has no pad token


def test_one_list_of_n_per_prefix(gen):
    out = propose(gen, n=3)
    assert [len(row) for row in out] == [3, 3, 3]
    assert propose(gen, prefixes=[]) == []


def test_same_seed_same_output_other_seed_differs(gen):
    assert_same(propose(gen, seed=7), propose(gen, seed=7))
    texts = [[c.text for row in propose(gen, seed=seed) for c in row] for seed in (7, 8)]
    assert texts[0] != texts[1]


def test_seeding_leaves_global_rng_alone(gen):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    propose(gen, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_steps_are_cut_at_the_stop_string(gen):
    conts = [c for row in propose(gen, n=8, max_new_tokens=30) for c in row]
    assert all("\n" not in c.text for c in conts)
    assert all(0 < c.num_tokens <= 30 for c in conts)
    assert all(c.logprob < 0 for c in conts)
    stopped = [c for c in conts if not c.finished and c.num_tokens < 30]
    assert stopped, "the imprinted model should end most steps with a newline"
    # char-level tokenizer: the kept tokens are the text plus the one newline
    assert all(c.num_tokens == len(c.text) + 1 for c in stopped)


def test_a_stop_of_two_characters_is_found_across_tokens(gen):
    """One token per character here, so "= " always spans two tokens: the row's text is read, not its token."""
    conts = [c for row in propose(gen, n=4, stop="= ", max_new_tokens=30) for c in row]
    stopped = [c for c in conts if not c.finished and c.num_tokens < 30]
    assert stopped and all("= " not in c.text for c in conts)
    assert all(c.num_tokens == len(c.text) + 2 for c in stopped)  # the text, then "=" and " "


def test_max_new_tokens_caps_a_step(gen):
    conts = [c for row in propose(gen, max_new_tokens=3) for c in row]
    assert all(c.num_tokens <= 3 and len(c.text) <= 3 for c in conts)


def test_a_step_never_runs_past_the_models_positions(gen, monkeypatch):
    """A long problem at the end of the context: the step is cut at the last position, and a prefix with no
    position left ends its chain (no answer) instead of reading garbage past the positions it learned."""
    long = "Question: " + "1 + " * 40 + "1\nAnswer:\n"
    length = len(gen.tokenizer(long).input_ids)
    monkeypatch.setattr(gen.model.config, "max_position_embeddings", length + 4)
    [[near], [full]] = gen.propose([long, long + "1 + 1 = 2\n"], 1, stop="\n", max_new_tokens=40,
                                   temperature=0.0, seed=0)
    assert 0 < near.num_tokens <= 4
    assert full.finished and full.num_tokens == 0 and full.text == ""
    monkeypatch.setattr(gen.model.config, "max_position_embeddings", 512)
    [[free]] = gen.propose([long], 1, stop="\n", max_new_tokens=40, temperature=0.0, seed=0)
    assert free.num_tokens > 4


def test_eos_marks_the_chain_finished(gen):
    [[c]] = gen.propose([DONE], 1, stop="\n", max_new_tokens=40, temperature=0.0, seed=0)
    assert c.finished and c.text.strip()
    assert c.num_tokens == len(c.text) + 1  # the EOS token counts, and is not in the text


def test_greedy_batched_equals_unbatched(gen):
    batched = propose(gen, n=2, temperature=0.0)
    for prefix, row in zip(PREFIXES, batched):
        [[alone]] = gen.propose([prefix], 1, stop="\n", max_new_tokens=24, temperature=0.0, seed=0)
        assert row[0] == row[1]
        assert (row[0].text, row[0].num_tokens, row[0].finished) == (alone.text, alone.num_tokens, alone.finished)
        assert row[0].logprob == pytest.approx(alone.logprob, abs=1e-4)


def test_logprob_is_the_models_raw_logprob(gen):
    """Sampling at temperature 0.5 must still report log-probs under the unscaled model."""
    for prefix, row in zip(PREFIXES, propose(gen, n=2, temperature=0.5, seed=3)):
        for c in row:
            tail = gen.tokenizer.eos_token_id if c.finished else gen.tokenizer.convert_tokens_to_ids("\n")
            new = gen.tokenizer(c.text, add_special_tokens=False).input_ids
            new = new + [tail] if c.num_tokens > len(new) else new
            ids = torch.tensor([gen.tokenizer(prefix).input_ids + new])
            with torch.no_grad():
                logits = gen.model(ids).logits[0, -len(new) - 1:-1].log_softmax(-1)
            expected = logits.gather(1, torch.tensor(new)[:, None]).sum()
            assert c.logprob == pytest.approx(float(expected), abs=1e-3)


def test_greedy_steps_equal_those_of_generate(gen):
    """The search's own sampler (`step_decode`: rows leave the batch as their steps end) writes what
    `model.generate` writes, the path kept for models whose states cannot be reused."""
    plain = TransformersGenerator(gen.model, gen.tokenizer, prefix_cache_mb=0)
    plain._rows = None  # as for a model `kv_cache.reusable` refuses
    for prefixes in (PREFIXES, [DONE, PREFIXES[0]]):
        assert_same(propose(gen, prefixes, n=1, temperature=0.0, max_new_tokens=30),
                    propose(plain, prefixes, n=1, temperature=0.0, max_new_tokens=30))


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampled_tokens_follow_the_models_distribution(gen, temperature):
    """4,000 one-token steps of one prefix: the share of each token is the model's softmax(logits / T)."""
    [row] = gen.propose([PREFIXES[1]], 4000, stop="\n", max_new_tokens=1, temperature=temperature, seed=0)
    ids = torch.tensor([gen.tokenizer(PREFIXES[1]).input_ids])
    with torch.no_grad():
        expected = (gen.model(ids).logits[0, -1] / temperature).softmax(-1)
    counts = torch.zeros_like(expected)
    for c in row:
        token = gen.tokenizer.convert_tokens_to_ids("\n") if c.text == "" and not c.finished else \
            gen.tokenizer.eos_token_id if c.finished else gen.tokenizer.convert_tokens_to_ids(c.text)
        counts[token] += 1
    assert 0.5 * float((counts / len(row) - expected).abs().sum()) < 0.03  # total variation distance


def test_a_rows_tokens_do_not_depend_on_the_rows_beside_it(gen):
    """Each row draws its own numbers, so a prefix sampled alone or with others gets the same steps."""
    alone = propose(gen, PREFIXES[:1], n=3, seed=4)
    together = propose(gen, PREFIXES, n=3, seed=4)
    assert_same(alone, together[:1])


def test_searches_sharing_a_model_on_threads_stay_reproducible(gen):
    """No draw comes from torch's global RNG, so two threads proposing at once get what each gets alone."""
    seeds = range(6)
    expected = {seed: propose(gen, seed=seed) for seed in seeds}
    got: dict[int, list] = {}

    def work(mine):
        for seed in mine:
            got[seed] = propose(gen, seed=seed)
            torch.rand(100)  # another user of the global RNG

    threads = [threading.Thread(target=work, args=(list(seeds)[k::2],)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in seeds:
        assert_same(got[seed], expected[seed])


def test_a_row_leaves_the_batch_once_its_step_ends(gen):
    """The forward passes after the first shrink as rows end their steps, instead of every row running
    until the longest step ends."""
    sizes: list[int] = []
    hook = gen.model.register_forward_pre_hook(lambda module, args, kwargs: sizes.append(kwargs["input_ids"].shape[0]),
                                               with_kwargs=True)
    try:
        conts = [c for row in propose(gen, n=8, max_new_tokens=30) for c in row]
    finally:
        hook.remove()
    assert sizes[0] == len(conts) == 24
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]
    assert len(sizes) == max(c.num_tokens for c in conts)  # one pass per token of the longest step
    assert sum(sizes[1:]) == sum(c.num_tokens - 1 for c in conts)  # each row read only its own tokens


def test_should_stop_cancels_generation(folder):
    stop = threading.Event()
    gen = TransformersGenerator(folder, device="cpu", should_stop=stop)
    stop.set()
    conts = [c for row in propose(gen, max_new_tokens=200, stop="@") for c in row]
    assert all(c.num_tokens == 1 for c in conts)


def test_a_per_call_cancel_stops_only_that_call(gen):
    """One shared model serves many searches: a search's Stop must not end another's generation."""
    stop = threading.Event()
    stop.set()
    cancelled = [c for row in propose(gen, max_new_tokens=200, stop="@", cancel=stop) for c in row]
    other = [c for row in propose(gen, max_new_tokens=20, stop="@") for c in row]
    assert all(c.num_tokens == 1 for c in cancelled)
    assert all(c.num_tokens == 20 or c.finished for c in other)  # only its own end (EOS) stopped a row
    assert sum(c.num_tokens == 20 for c in other) > len(other) // 2


def test_accepts_a_loaded_model_and_tokenizer(gen):
    again = TransformersGenerator(gen.model, gen.tokenizer)
    assert_same(propose(again, seed=1), propose(gen, seed=1))
    with pytest.raises(ModelError, match="tokenizer"):
        TransformersGenerator(gen.model)


def test_missing_model_errors_are_readable(tmp_path):
    with pytest.raises(ModelError, match=r"no model at .*nowhere.*no such folder"):
        TransformersGenerator(tmp_path / "nowhere")
    with pytest.raises(ModelError, match=r"no config.json"):
        TransformersGenerator(tmp_path)
    with pytest.raises(ModelError, match="could not be found in the local Hugging Face cache"):
        TransformersGenerator("stepwise-test/not-a-cached-model")


@pytest.mark.skipif(not NO_VLLM, reason="vLLM is installed")
def test_vllm_missing_is_a_clear_error():
    with pytest.raises(ModelError, match=r"pip install -r requirements-gpu.txt"):
        VLLMGenerator("any/model")
    with pytest.raises(ModelError, match="needs vLLM"):
        load_generator("vllm:any/model")


def test_load_generator_caches_by_spec(folder):
    first = load_generator(str(folder), device="cpu")
    assert isinstance(first, TransformersGenerator)
    assert load_generator(str(folder), device="cpu") is first


def test_missing_default_checkpoint_says_where(monkeypatch, tmp_path):
    monkeypatch.setitem(checkpoints.DEFAULTS, "generator", tmp_path / "assets" / "generator")
    load_generator.cache_clear()
    with pytest.raises(ModelError, match=r"default checkpoint not found at .*assets/generator"):
        load_generator("default")

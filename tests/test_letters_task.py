"""The built-in `letters` task: generated questions, the question reader, gold chains and the step checker."""
from __future__ import annotations

from importlib import resources

import pytest

from reasoning_core.tasks import check_steps, detect, get_task, letters
from reasoning_core.tasks.generated import split_of
from reasoning_core.tasks.letters import Question

STRAWBERRY = "How many r's are in strawberry?"
GOLD = ["s t r -> 1", "a w b -> 1", "e r r -> 3", "y -> 3", "The answer is 3"]
GSM8K = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
         "How many clips did Natalia sell altogether in April and May?")


def test_strawberry_chain_spells_three_letters_a_step():
    assert Question("strawberry", "r").steps() == GOLD
    assert check_steps(STRAWBERRY, GOLD) == [True] * 5
    assert get_task("letters").prompt(STRAWBERRY) == f"Question: {STRAWBERRY}\nAnswer:\n"


@pytest.mark.parametrize("split", ["train", "test"])
def test_gold_chains_pass_the_checker_and_count_the_letter(split):
    for ex in letters.generate(split, 300, seed=3):
        question = letters.parse(ex.problem)
        assert question is not None, ex.problem
        assert ex.reference == str(question.word.count(question.letter))
        assert ex.steps[-1] == f"The answer is {ex.reference}"
        assert "".join(step.split(" -> ")[0].replace(" ", "") for step in ex.steps[:-1]) == question.word
        assert letters.check_steps(ex.problem, list(ex.steps)) == [True] * len(ex.steps)
        assert ex.difficulty in letters.LEVELS
        assert letters.canonical(ex.problem) == ex.problem  # the model is prompted with what it trained on


@pytest.mark.parametrize(("word", "letter", "count"), [("strawberry", "r", 3), ("mississippi", "s", 4)])
def test_every_phrasing_reads_back(word, letter, count):
    texts = set(letters.phrasings(Question(word, letter)))
    assert len(texts) >= 100
    for text in texts:
        question = letters.parse(text)
        assert question == (word, letter), text
        assert question.occurrences == count
        assert detect(text) == "letters", text


@pytest.mark.parametrize("text", [
    "How many r's are in strawberry?", "how many R's are in STRAWBERRY", 'How many "r"s are in "strawberry"?',
    "How many r’s are in ‘strawberry’?", "How many rs in strawberry??", "How many r in strawberry",
    "  How many times does the letter R appear in the word Strawberry?! ", "Count the letter r in 'strawberry'.",
    "In the word strawberry, how many r's are there?", "How many letters r are in strawberry?",
    "How many r letters does strawberry have?", "How often does 'r' appear in \"strawberry\"",
])
def test_hand_typed_variants_read(text):
    assert letters.parse(text) == ("strawberry", "r")
    assert check_steps(text, GOLD) == [True] * 5


def test_prompts_keep_generated_phrasings_and_rewrite_other_readings():
    own = "In the word 'strawberry', how many letter r's are there?"
    assert letters.canonical(own) == own
    for typed in ("how many R's in STRAWBERRY!!", "How many r’s are in strawberry?", "How many rs in strawberry"):
        assert get_task("letters").prompt(typed) == f"Question: {STRAWBERRY}\nAnswer:\n"
    assert letters.canonical("hello") == "hello"


def test_mississippi_typed_with_double_s():
    assert letters.parse("How many s's does the word mississippi have?") == ("mississippi", "s")
    assert letters.parse("Count the letter s in 'mississippi'.").occurrences == 4


@pytest.mark.parametrize("text", ["17 + 25 * 3", GSM8K, "hello", "How many apples are in the basket?",
                                  "How many s's are in the sentence 'she sells sea shells'?", ""])
def test_other_problems_are_not_letter_questions(text):
    assert not letters.recognise(text)
    assert letters.check_steps(text, GOLD) == [False] * 5


def test_detect_routes_letter_questions_here_and_sums_to_arith():
    assert detect(STRAWBERRY) == "letters"
    assert detect("17 + 25 * 3") == "arith"
    assert detect(GSM8K) == "word"  # not a letters question: the word task reads it


def test_generation_is_deterministic_and_splits_are_disjoint():
    assert letters.generate("train", 50, seed=1) == letters.generate("train", 50, seed=1)
    assert letters.generate("train", 50, seed=1) != letters.generate("train", 50, seed=2)
    texts = {split: {ex.problem for ex in letters.generate(split, 400, seed=0)}
             for split in ("train", "validation", "test")}
    assert not texts["train"] & texts["validation"] and not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]
    assert all(split_of(t) == split for split, ts in texts.items() for t in ts)


def test_held_out_words_appear_only_in_test_about_half_the_time():
    def unseen_share(split: str) -> float:
        exs = letters.generate(split, 1000, seed=0)
        return sum(letters.held_out(letters.parse(ex.problem).word) for ex in exs) / len(exs)

    assert unseen_share("train") == 0 and unseen_share("validation") == 0
    assert 0.4 < unseen_share("test") < 0.6
    assert not any(letters.held_out(w) for w in letters.CLASSICS)
    assert 0.05 < sum(map(letters.held_out, letters.words())) / len(letters.words()) < 0.15


def test_levels_set_word_length_and_how_often_the_letter_occurs():
    for level in letters.LEVELS:
        shape = letters.level_shape(level)
        exs = letters.generate("train", 200, seed=0, levels=[level])
        assert {ex.difficulty for ex in exs} == {level}
        for ex in exs:
            assert len(letters.parse(ex.problem).word) in shape.lengths
            assert (int(ex.reference) >= 2) == shape.repeated
        zeros = sum(ex.reference == "0" for ex in exs) / len(exs)
        assert zeros == 0 if shape.repeated else 0.1 < zeros < 0.4
    with pytest.raises(ValueError, match="levels 1-6"):
        letters.generate("train", 1, levels=[7])


def test_default_mix_asks_mostly_letters_the_word_has():
    answers = [int(ex.reference) for ex in letters.generate("train", 2000, seed=0)]
    assert 0.05 < answers.count(0) / len(answers) < 0.2
    assert sum(a >= 2 for a in answers) / len(answers) > 0.4
    assert max(answers) >= 4


def test_one_wrong_count_is_bad_from_that_step_on():
    chain = GOLD.copy()
    chain[1] = "a w b -> 2"
    assert check_steps(STRAWBERRY, chain) == [True, False, False, False, False]


def test_skipped_chunk_is_bad():
    assert check_steps(STRAWBERRY, [GOLD[0], GOLD[2], GOLD[3], GOLD[4]]) == [True, False, False, False]


def test_wrong_or_early_answer_is_bad():
    assert check_steps(STRAWBERRY, GOLD[:4] + ["The answer is 2"]) == [True] * 4 + [False]
    assert check_steps(STRAWBERRY, ["The answer is 3"]) == [False]


def test_spacing_and_a_full_stop_do_not_matter_but_extra_lines_do():
    assert check_steps(STRAWBERRY, ["str->1", "  a w b  ->  1", "e r r -> 3", "y -> 3", "The answer is 3."]) \
        == [True] * 5
    assert check_steps(STRAWBERRY, GOLD + ["The answer is 3"]) == [True] * 5 + [False]


def test_uppercase_question_is_checked_in_lowercase():
    assert check_steps("How many R's are in STRAWBERRY?", GOLD) == [True] * 5


def test_word_list_is_large_and_clean():
    words = letters.words()
    assert len(set(words)) == len(words) >= 2500
    assert all(w.isascii() and w.isalpha() and w.islower() and 3 <= len(w) <= 14 for w in words)
    assert {"strawberry", "mississippi", "banana", "bookkeeper", "committee", "raspberry"} <= set(words)
    assert set(words) >= letters.CLASSICS


def test_word_list_ships_with_the_package():
    assert resources.files("reasoning_core.tasks").joinpath("data", "words.txt").is_file()

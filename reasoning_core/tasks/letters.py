"""The built-in `letters` task: count a letter in a word by spelling the word with a running count.

    Question: How many r's are in strawberry?
    Answer:
    s t r -> 1
    a w b -> 1
    e r r -> 3
    y -> 3
    The answer is 3

Each step spells three letters (the last chunk may be shorter) and the count so far, so a chain stays a
few steps deep for tree search and every step is checkable (see `check_steps`). Words come from the
committed list `data/words.txt`; questions come in twelve phrasings (`TEMPLATES`), each with several
ways to write the letter and the word (quoted or not, "the letter", "the word").

Levels 1-3 are short, medium and long words (3-5, 6-8, 9-14 letters) asking a letter that occurs once
or, one time in four, not at all (the answer 0); levels 4-6 are the same lengths asking a letter that
occurs two or more times.

Held-out words: one word in ten (by a stable hash; never the classic examples users type, such as
strawberry) never appears in train or validation problems, and half of the test problems ask about
those words, so the test split measures spelling words never trained on as well as words seen in
training (20,000 training problems use 96% of the words they may use, and 63% of the test questions
about those words ask a word and letter pair trained on). `held_out(word)` tells the two halves apart.
"""
from __future__ import annotations

import hashlib
import random
import re
import string
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import NamedTuple

from .answers import extract_answer, is_equivalent
from .example import Example
from .generated import StepTask, draw

CHUNK = 3  # letters spelled per step

# The phrasings of a question. A template has one letter slot, `{letters}` where English puts the plural
# ("how many r's") or `{letter}` where it puts the singular ("does the letter r appear"), and a `{word}`.
TEMPLATES = (
    "How many {letters} are in {word}?",
    "How many {letters} are there in {word}?",
    "How many {letters} does {word} have?",
    "How many {letters} can you find in {word}?",
    "In {word}, how many {letters} are there?",
    "What is the number of {letters} in {word}?",
    "Count the {letters} in {word}.",
    "How many times does {letter} appear in {word}?",
    "How many times does {letter} occur in {word}?",
    "How often does {letter} appear in {word}?",
    "Count how many times {letter} appears in {word}.",
    "Count {letter} in {word}.",
)
# Phrasings the reader accepts but the generator never writes (`canonical` rewrites them).
READ_ONLY_TEMPLATES = ("How many {letters} in {word}?",)
LETTER_FORMS = {
    "letters": ("{}'s", "'{}'s", "letter {}'s", "letters '{}'"),
    "letter": ("{}", "'{}'", '"{}"', "the letter {}", "the letter '{}'"),
}
WORD_FORMS = ("{}", "'{}'", '"{}"', "the word {}", "the word '{}'")

# Slot readers, looser than the forms above so hand-typed questions read too: "r", "rs", "r's", "'r'",
# "the letter r", "letters r", "r letters"; "the word 'banana'", "\"banana\"". Quotes must pair.
_LETTER = r"(?:the\s+)?(?:letters?\s+)?(?P<lq>['\"]?)(?P<letter>[a-z])(?P=lq)(?:'?s)?(?:\s+letters?)?"
_WORD = r"(?:the\s+word\s+)?(?P<wq>['\"]?)(?P<word>[a-z]+)(?P=wq)"
_SLOT_READERS = {"{letters}": _LETTER, "{letter}": _LETTER, "{word}": _WORD}
_TYPOGRAPHIC = str.maketrans("‘’“”`", "''\"\"'")  # curly quotes and backticks read as straight ones


class Question(NamedTuple):
    """The word and the letter a question asks about (both lowercase)."""

    word: str
    letter: str

    @property
    def occurrences(self) -> int:
        return self.word.count(self.letter)

    def steps(self) -> list[str]:
        """The gold chain: each chunk spelled with the running count, then the answer line."""
        out, running = [], 0
        for start in range(0, len(self.word), CHUNK):
            chunk = self.word[start:start + CHUNK]
            running += chunk.count(self.letter)
            out.append(f"{' '.join(chunk)} -> {running}")
        return out + [f"The answer is {running}"]


def _slot(template: str) -> str:
    return "letters" if "{letters}" in template else "letter"


def render(template: str, question: Question, letter_form: str, word_form: str) -> str:
    return template.format(**{_slot(template): letter_form.format(question.letter)},
                           word=word_form.format(question.word))


def phrasings(question: Question) -> Iterator[str]:
    """Every text the generator can write for a question."""
    for template in TEMPLATES:
        for letter_form in LETTER_FORMS[_slot(template)]:
            for word_form in WORD_FORMS:
                yield render(template, question, letter_form, word_form)


def _reader(template: str) -> re.Pattern[str]:
    """A template as a regex: any case and spacing, its slots read loosely, any closing punctuation."""
    body = template.rstrip("?.")
    parts = re.split(r"(\{letters\}|\{letter\}|\{word\})", body)
    pattern = "".join(_SLOT_READERS.get(part) or re.escape(part).replace(r"\ ", r"\s+") for part in parts)
    return re.compile(rf"\s*{pattern}\s*[?.!]*\s*", re.IGNORECASE)


_READERS = tuple(_reader(t) for t in TEMPLATES + READ_ONLY_TEMPLATES)


def parse(text: str) -> Question | None:
    """The word and letter of a typed question ("How many R's are in "Strawberry"?"), or None when the
    text is not a letter-counting question."""
    text = text.translate(_TYPOGRAPHIC)
    for reader in _READERS:
        m = reader.fullmatch(text)
        if m:
            return Question(m["word"].lower(), m["letter"].lower())
    return None


# ---------------------------------------------------------------- words and levels
@cache
def words() -> tuple[str, ...]:
    """The committed word list (lowercase a-z, 3-14 letters)."""
    return tuple(resources.files(__package__).joinpath("data", "words.txt").read_text().split())


# Always in training: the examples people type to try the task.
CLASSICS = frozenset({"strawberry", "mississippi", "banana", "bookkeeper", "committee", "raspberry",
                      "blueberry", "balloon", "coffee", "cheese", "success", "tomorrow", "tennessee"})
HELD_OUT_BUCKETS = 10  # one word in this many is held out of train and validation
TEST_HELD_OUT_SHARE = 0.5  # of test problems, the share asking about a held-out word


def held_out(word: str) -> bool:
    """Whether a word is kept out of the train and validation splits (a stable hash of the word)."""
    digest = int(hashlib.sha256(f"letters/{word}".encode()).hexdigest(), 16)
    return word not in CLASSICS and digest % HELD_OUT_BUCKETS == 0


@dataclass(frozen=True)
class Level:
    lengths: range  # word lengths
    repeated: bool  # the asked letter occurs two or more times; else once, or (ABSENT_SHARE) not at all


LEVEL_SHAPES = {
    1: Level(range(3, 6), repeated=False),
    2: Level(range(6, 9), repeated=False),
    3: Level(range(9, 15), repeated=False),
    4: Level(range(3, 6), repeated=True),
    5: Level(range(6, 9), repeated=True),
    6: Level(range(9, 15), repeated=True),
}
LEVELS = tuple(LEVEL_SHAPES)
DEFAULT_LEVELS = LEVELS
ABSENT_SHARE = 0.25  # of questions at levels 1-3, those asking a letter the word lacks (answer 0)


def level_shape(level: int) -> Level:
    if level not in LEVEL_SHAPES:
        raise ValueError(f"letters has levels {LEVELS[0]}-{LEVELS[-1]}, not {level}")
    return LEVEL_SHAPES[level]


def _candidates(word: str, repeated: bool) -> list[str]:
    """The letters a level may ask about in a word that occurs in it (sorted, so draws are reproducible)."""
    return sorted(c for c, n in Counter(word).items() if (n >= 2) == repeated)


@cache
def pool(level: int, unseen: bool) -> tuple[str, ...]:
    """The words of a level: the right length and with a letter of the right kind, held out or not."""
    shape = level_shape(level)
    return tuple(w for w in words() if len(w) in shape.lengths and _candidates(w, shape.repeated)
                 and held_out(w) == unseen)


def make_question(rng: random.Random, level: int, *, unseen: bool = False) -> Question:
    shape = level_shape(level)
    word = rng.choice(pool(level, unseen))
    if not shape.repeated and rng.random() < ABSENT_SHARE:
        return Question(word, rng.choice(sorted(set(string.ascii_lowercase) - set(word))))
    return Question(word, rng.choice(_candidates(word, shape.repeated)))


def make_text(rng: random.Random, question: Question) -> str:
    """One phrasing of a question, drawn uniformly from the templates and slot forms."""
    template = rng.choice(TEMPLATES)
    return render(template, question, rng.choice(LETTER_FORMS[_slot(template)]), rng.choice(WORD_FORMS))


def generate(split: str, count: int, *, seed: int = 0, levels: Collection[int] | None = None) -> list[Example]:
    """`count` problems of one split (see `generated.draw`); difficulty is the level. Train and
    validation use only words that are not held out; test asks about held-out words half the time."""
    def make(rng: random.Random, level: int) -> Example:
        unseen = split == "test" and rng.random() < TEST_HELD_OUT_SHARE
        question = make_question(rng, level, unseen=unseen)
        return Example(make_text(rng, question), str(question.occurrences), tuple(question.steps()), level)

    return draw(split, count, make, task="letters", seed=seed, levels=levels or DEFAULT_LEVELS)


# ---------------------------------------------------------------- reading and checking
def _squeezed(text: str) -> str:
    return "".join(text.split())


def _step_ok(step: str, gold: str, is_answer: bool) -> bool:
    if is_answer:
        stated = extract_answer(step)
        return stated is not None and is_equivalent(stated, gold.removeprefix("The answer is "))
    return _squeezed(step) == _squeezed(gold)


def check_steps(problem_text: str, steps: list[str]) -> list[bool]:
    """Exact per-step labels from the question alone: step k is good when it equals the gold step k
    (whitespace aside), the answer line when it comes right after the last chunk and states the count.
    The first wrong step and every step after it are bad (the PRM800K convention), as is anything after
    the answer line."""
    question = parse(problem_text)
    if question is None:
        return [False] * len(steps)
    gold = question.steps()
    labels, alive = [], True
    for k, step in enumerate(steps):
        alive = alive and k < len(gold) and _step_ok(step, gold[k], is_answer=k == len(gold) - 1)
        labels.append(alive)
    return labels


def recognise(text: str) -> bool:
    return parse(text) is not None


def canonical(text: str) -> str:
    """A question the generator could have written stays as it is (the model trained on all of them);
    any other reading of one ("how many R's in STRAWBERRY!!") becomes the first phrasing, lowercase."""
    question = parse(text)
    if question is None or text in phrasings(question):
        return text
    return render(TEMPLATES[0], question, LETTER_FORMS["letters"][0], WORD_FORMS[0])


def solve(text: str) -> str | None:
    question = parse(text)
    return None if question is None else str(question.occurrences)


TASK = StepTask("letters", canonical)
KIND = 'letter counting such as "How many r\'s are in strawberry?"'

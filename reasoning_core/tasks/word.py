"""The built-in `word` task: grade-school word problems (GSM8K-style), one calculation per step.

    Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in
    May. How many clips did Natalia sell altogether in April and May?
    Answer:
    In May she sold 48 / 2 = 24 clips.
    Altogether she sold 48 + 24 = 72 clips.
    The answer is 72.

Problems come from a grammar of story families (a person's running count of a thing, money earned and
spent, amounts in consecutive periods, people or ages compared, rates, shopping, sharing), each with several
phrasings per sentence; names come with consistent pronouns (he, she, they). Every number, intermediate and
answer is a non-negative integer (fractions only where they divide exactly). The level sets the number of
calculation steps (1-4); levels 5-8 repeat 1-4 with a distractor sentence, a number the answer does not need.

`check_steps` has two modes:

* exact, for a problem `generate` made in this process (its gold chain is remembered): a step is good when
  it holds exactly one calculation `a op b = c`, arithmetically right, on numbers of the problem or of
  earlier steps, that is one of the gold chain's calculations not done yet (in any order the operands allow;
  `a + b` and `b + a` are the same calculation); the answer line is good once every gold calculation is
  done and it states the gold answer;
* consistent, for any other problem (typed by a user): a step is good when its one calculation is right
  and uses numbers of the problem (number words included: "half" is 2, "a dozen" 12, "a week" 7 days) or of
  earlier steps; the answer line is good when it states the last result. This cannot tell a needed
  calculation from an idle one.

In both, a step without a calculation (other than the answer line) is bad, and so is every step after it.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from .answers import extract_answer, is_equivalent
from .example import Example
from .generated import StepTask, draw

# ---------------------------------------------------------------------------------------------- the cast


@dataclass(frozen=True)
class Person:
    name: str
    pronoun: str  # "he", "she" or "they"


MALE = ("Liam", "Noah", "Omar", "Ben", "Carlos", "David", "Ethan", "Felix", "Hassan", "Ivan", "Jack",
        "Kenji", "Leo", "Marcus", "Nathan", "Oscar", "Pedro", "Ravi", "Tom", "James")
FEMALE = ("Natalia", "Emma", "Mia", "Ava", "Chloe", "Fatima", "Grace", "Hana", "Isla", "Julia", "Lily",
          "Maya", "Nora", "Olivia", "Priya", "Rosa", "Sofia", "Tara", "Yuki", "Zoe")
NEUTRAL = ("Alex", "Sam", "Jordan", "Taylor", "Riley", "Casey", "Morgan", "Quinn", "Avery", "Robin")
PEOPLE = (tuple(Person(n, "he") for n in MALE) + tuple(Person(n, "she") for n in FEMALE)
          + tuple(Person(n, "they") for n in NEUTRAL))
PRONOUNS = {"he": ("he", "him", "his"), "she": ("she", "her", "her"), "they": ("they", "them", "their")}

# Verbs written in braces in a template agree with the person's pronoun ("{He} {buys}": "They buy"); verbs
# after a name are written out plainly ("{name} buys").
VERBS = frozenset({"has", "is", "does", "buys", "gets", "receives", "finds", "gives", "eats", "sells",
                   "loses", "spends", "earns", "works", "saves", "pays", "washes", "needs", "keeps",
                   "shares", "fills", "reads", "walks", "swims", "bakes", "makes", "plants"})
_IRREGULAR = {"has": "have", "is": "are", "does": "do"}


def agree(verb: str, plural: bool) -> str:
    """The verb form for the subject: "buys" for he and she, "buy" for they."""
    if not plural:
        return verb
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith(("shes", "ches", "sses", "xes")):
        return verb[:-2]
    return verb[:-1]


class _Words(dict):
    """The slots of a template: the person's name and pronouns, agreeing verbs, and the given values."""

    def __init__(self, person: Person, slots: dict[str, object]):
        he, him, his = PRONOUNS[person.pronoun]
        super().__init__(name=person.name, he=he, He=he.capitalize(), him=him, his=his,
                         His=his.capitalize(), **slots)
        self.plural = person.pronoun == "they"

    def __missing__(self, key: str) -> str:
        if key not in VERBS:  # a typo in a template, not a verb to conjugate
            raise KeyError(key)
        return agree(key, self.plural)


def say(template: str, person: Person, **slots: object) -> str:
    return template.format_map(_Words(person, slots))


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def plural(noun: str) -> str:
    return noun + "es" if noun.endswith(("x", "ch", "sh")) else noun + "s"


# --------------------------------------------------------------------------------------------- things


@dataclass(frozen=True)
class Thing:
    """What is counted, and how amounts of it are said."""

    plural: str
    container: str = "box"  # what a group of them comes in: "3 bags of 5 apples"
    edible: bool = False

    def amount(self, n: int) -> str:
        return f"{n} {self.plural}"

    def more(self, n: int) -> str:
        return f"{n} more {self.plural}"

    def fewer(self, n: int) -> str:
        return f"{n} fewer {self.plural}"

    @property
    def as_many(self) -> str:
        return f"as many {self.plural}"

    @property
    def how_many(self) -> str:
        return f"How many {self.plural}"

    @property
    def how_many_more(self) -> str:
        return f"How many more {self.plural}"


class Money(Thing):
    def amount(self, n: int) -> str:
        return f"${n}"

    def more(self, n: int) -> str:
        return f"${n} more"

    def fewer(self, n: int) -> str:
        return f"${n} less"

    @property
    def as_many(self) -> str:
        return "as much"

    @property
    def how_many(self) -> str:
        return "How much money"

    @property
    def how_many_more(self) -> str:
        return "How much more money"


class Age(Thing):
    def amount(self, n: int) -> str:
        return f"{n} years old"

    def more(self, n: int) -> str:
        return f"{n} years older"

    def fewer(self, n: int) -> str:
        return f"{n} years younger"

    @property
    def as_many(self) -> str:
        return "as old"


MONEY = Money("dollars", "wallet")
AGE = Age("years")
THINGS = (
    Thing("apples", "bag", True), Thing("oranges", "bag", True), Thing("cookies", "box", True),
    Thing("cupcakes", "box", True), Thing("muffins", "tray", True), Thing("candies", "bag", True),
    Thing("strawberries", "basket", True), Thing("bananas", "bunch", True), Thing("eggs", "carton", True),
    Thing("stickers", "sheet"), Thing("marbles", "jar"), Thing("pencils", "box"), Thing("crayons", "box"),
    Thing("cards", "pack"), Thing("shells", "bucket"), Thing("beads", "jar"), Thing("balloons", "pack"),
    Thing("books", "box"), Thing("toy cars", "box"), Thing("flowers", "bunch"), Thing("pens", "pack"),
    Thing("erasers", "pack"), Thing("stamps", "sheet"), Thing("rocks", "bucket"),
)
ITEMS = ("pen", "notebook", "book", "ticket", "sandwich", "ball", "kite", "puzzle", "hat", "toy car", "mug",
         "game", "comic", "plant", "lamp")
FRIENDS = ("friends", "classmates", "cousins", "teammates", "neighbors")

# ------------------------------------------------------------------------------------- calculations


class _Retry(Exception):
    """A draw broke a rule (a result below 2 or too large, an inexact division): draw the problem again."""


def apply_op(a: int, op: str, b: int) -> int | None:
    """The result of `a op b`, or None when it is not a whole number."""
    if op == "/":
        return a // b if b and a % b == 0 else None
    return a + b if op == "+" else a - b if op == "-" else a * b


@dataclass(frozen=True, slots=True)
class Calc:
    a: int
    op: str
    b: int
    c: int

    def __str__(self) -> str:
        return f"{self.a} {self.op} {self.b} = {self.c}"

    @property
    def key(self) -> tuple[int, str, int, int]:
        """The same key for `a + b` and `b + a` (and for `*`): either order does the same calculation."""
        a, b = sorted((self.a, self.b)) if self.op in "+*" else (self.a, self.b)
        return a, self.op, b, self.c


# every result is 2-999: short for a character-level model, and never "1 apples" or "0 dollars"
MAX_NUMBER = 999


@dataclass
class Draft:
    """A problem under construction: its sentences, question and gold steps. Every template used is
    recorded in `template`, so that variety can be measured."""

    rng: random.Random
    person: Person
    sentences: list[str] = field(default_factory=list)
    question: str = ""
    lines: list[str] = field(default_factory=list)
    calcs: list[Calc] = field(default_factory=list)
    template: list[str] = field(default_factory=list)
    topics: set[str] = field(default_factory=set)  # what it counts: distractors stay off these

    def _fill(self, texts: str | Sequence[str], slots: dict[str, object]) -> str:
        text = texts if isinstance(texts, str) else self.rng.choice(texts)
        self.template.append(text)
        return say(text, self.person, **slots)

    def tell(self, texts: str | Sequence[str], **slots: object) -> None:
        self.sentences.append(self._fill(texts, slots))

    def ask(self, texts: str | Sequence[str], **slots: object) -> None:
        self.question = self._fill(texts, slots)

    def work(self, texts: str | Sequence[str], a: int, op: str, b: int, /, **slots: object) -> int:
        """One solution step: the calculation `a op b` said in one of `texts` (its `{calc}` slot)."""
        c = apply_op(a, op, b)
        if c is None or not 2 <= c <= MAX_NUMBER:
            raise _Retry
        calc = Calc(a, op, b, c)
        text = texts if isinstance(texts, str) else self.rng.choice(texts)
        self.lines.append(say(text, self.person, calc=str(calc), **slots))
        self.calcs.append(calc)
        return c

    def others(self, count: int) -> list[Person]:
        """`count` more people with names other than the main person's."""
        return self.rng.sample([p for p in PEOPLE if p.name != self.person.name], count)


def _relation(rng: random.Random, base: int, thing: Thing, than: str = "", limit: int = 99) -> tuple[str, int, str]:
    """A second amount told relative to `base`: (op, operand, text), e.g. ("/", 2, "half as many clips") or,
    with `than`, ("+", 5, "5 more clips than in May"). Fractions only where they divide exactly."""
    options = []
    if base % 2 == 0:
        options.append(("/", 2, f"half {thing.as_many}"))
    if base % 3 == 0 and base >= 9:
        options.append(("/", 3, f"a third {thing.as_many}"))
    if base * 2 <= limit:
        options.append(("*", 2, f"twice {thing.as_many}"))
    if base * 3 <= limit and base <= 20:
        options.append(("*", 3, f"three times {thing.as_many}"))
    n = rng.randint(2, 15)
    if base + n <= limit:
        options.append(("+", n, thing.more(n)))
    if base > n:
        options.append(("-", n, thing.fewer(n)))
    op, b, text = rng.choice(options)
    if than:
        text += f" as {than}" if op in "*/" else f" than {than}"
    return op, b, text


# ------------------------------------------------------------------ family: a running count (items)
# Each start or move returns (new total, kind) with kind "gain", "loss" or "" (what the question may say),
# or None when it does not apply to the total so far (nothing told then).

Move = Callable[[Draft, Thing, int], tuple[int, str] | None]
HAS = ("{He} {has} {calc} {obj}.", "That is {calc} {obj}.")
NOW = ("Now {he} {has} {calc} {obj}.", "{He} {has} {calc} {obj} now.", "That makes {calc} {obj}.")
LEFT = ("{He} {has} {calc} {obj} left.", "Now {he} {has} {calc} {obj}.", "That leaves {calc} {obj}.")


def _items_start(d: Draft, thing: Thing, _: int) -> tuple[int, str]:
    n = d.rng.randint(12, 60)
    d.tell(("{name} has {n} {obj}.", "There are {n} {obj} in {name}'s {box}.", "{name} starts with {n} {obj}.",
            "{name} brings {n} {obj} to school."), n=n, obj=thing.plural, box=thing.container)
    return n, ""


def _items_packs(d: Draft, thing: Thing, _: int) -> tuple[int, str]:
    g, k = d.rng.randint(2, 6), d.rng.randint(3, 12)
    d.tell(("{name} has {g} {boxes} of {obj} with {k} in each.", "{name} buys {g} {boxes} of {k} {obj}.",
            "{name} has {g} {boxes}, each with {k} {obj}."), g=g, k=k, obj=thing.plural,
           boxes=plural(thing.container))
    return d.work(HAS, g, "*", k, obj=thing.plural), "gain"


def _items_two_sources(d: Draft, thing: Thing, _: int) -> tuple[int, str]:
    a, b = d.rng.randint(5, 40), d.rng.randint(5, 40)
    friend, friend2 = d.others(2)
    d.tell(("{name} gets {a} {obj} from {f1} and {b} from {f2}.", "{name} finds {a} {obj} on Monday and {b} on "
            "Tuesday.", "{name} has {a} {obj} at home and {b} at school."), a=a, b=b, obj=thing.plural,
           f1=friend.name, f2=friend2.name)
    return d.work(HAS, a, "+", b, obj=thing.plural), "gain"


def _items_gain(d: Draft, thing: Thing, total: int) -> tuple[int, str]:
    n = d.rng.randint(2, 30)
    d.tell(("{He} {buys} {n} more {obj}.", "{He} {gets} {n} more {obj} from {friend}.", "{He} {is} given {n} "
            "more {obj}.", "{He} {receives} {n} {obj} as a gift.", "Then {he} {finds} {n} more {obj}.",
            "{friend} gives {him} {n} more {obj}."), n=n, obj=thing.plural, friend=d.others(1)[0].name)
    return d.work(NOW, total, "+", n, obj=thing.plural), "gain"


def _items_loss(d: Draft, thing: Thing, total: int) -> tuple[int, str] | None:
    if total < 6:
        return None
    n = d.rng.randint(2, min(total // 2, 30))  # leaves enough for the moves after it
    texts = ["{He} {gives} {n} {obj} to {friend}.", "{He} {gives} away {n} {obj}.", "{He} {sells} {n} of the "
             "{obj}.", "{He} {loses} {n} of the {obj}."]
    if thing.edible:
        texts += ["{He} {eats} {n} of the {obj}.", "{He} {eats} {n} {obj} for lunch."]
    d.tell(texts, n=n, obj=thing.plural, friend=d.others(1)[0].name)
    return d.work(LEFT, total, "-", n, obj=thing.plural), "loss"


def _items_give_each(d: Draft, thing: Thing, total: int) -> tuple[int, str] | None:
    k, f = d.rng.randint(2, 6), d.rng.randint(2, 5)
    if k * f >= total:
        return None
    d.tell(("{He} {gives} {k} {obj} to each of {f} {friends}.", "{He} {gives} each of {f} {friends} {k} {obj}."),
           k=k, f=f, obj=thing.plural, friends=d.rng.choice(FRIENDS))
    given = d.work(("{He} {gives} away {calc} {obj}.", "That is {calc} {obj}."), k, "*", f, obj=thing.plural)
    return d.work(LEFT, total, "-", given, obj=thing.plural), "loss"


def _items_half(d: Draft, thing: Thing, total: int) -> tuple[int, str] | None:
    if total % 2:
        return None
    texts = ["{He} {gives} half of the {obj} to {friend}.", "{He} {sells} half of the {obj}."]
    if thing.edible:
        texts.append("{He} {eats} half of the {obj}.")
    d.tell(texts, obj=thing.plural, friend=d.others(1)[0].name)
    # half are left: one division says it (no "40 - 20" after "40 / 2")
    return d.work(LEFT, total, "/", 2, obj=thing.plural), "loss"


def _items_part(d: Draft, thing: Thing, total: int) -> tuple[int, str] | None:
    parts = [p for p in (3, 4) if total % p == 0]
    if not parts:
        return None
    p = d.rng.choice(parts)
    d.tell(("{He} {gives} {part} of the {obj} to {friend}.", "{He} {sells} {part} of the {obj}."),
           part={3: "a third", 4: "a quarter"}[p], obj=thing.plural, friend=d.others(1)[0].name)
    given = d.work(("That is {calc} {obj}.", "{Part} is {calc} {obj}."), total, "/", p, obj=thing.plural,
                   Part={3: "A third", 4: "A quarter"}[p])
    return d.work(LEFT, total, "-", given, obj=thing.plural), "loss"


def _items_times(d: Draft, thing: Thing, total: int) -> tuple[int, str] | None:
    if total > 40:
        return None
    k = d.rng.choice((2, 3)) if total <= 30 else 2
    d.tell(("By the end of the week, {he} {has} {times} as many {obj}.", "Then the number of {obj} {he} {has} "
            "{grows}."), times={2: "twice", 3: "three times"}[k], grows={2: "doubles", 3: "triples"}[k],
           obj=thing.plural)
    return d.work(NOW, total, "*", k, obj=thing.plural), ""


# (steps, move); a move listed twice is drawn twice as often
ITEM_STARTS: tuple[tuple[int, Move], ...] = ((0, _items_start), (0, _items_start), (1, _items_packs),
                                             (1, _items_two_sources))
ITEM_MOVES: tuple[tuple[int, Move], ...] = ((1, _items_gain), (1, _items_loss), (1, _items_loss),
                                            (2, _items_give_each), (1, _items_half), (2, _items_part),
                                            (1, _items_times))
ITEM_QUESTIONS = {
    "": ("How many {obj} does {name} have now?", "How many {obj} {does} {he} have now?"),
    "gain": ("How many {obj} does {name} have now?", "How many {obj} does {name} have in all?",
             "How many {obj} does {name} have altogether?", "How many {obj} {does} {he} have now?"),
    "loss": ("How many {obj} does {name} have left?", "How many {obj} {does} {he} have left?",
             "How many {obj} are left?", "How many {obj} does {name} have now?"),
}

# ------------------------------------------------------------------ family: a running count (money)
M_NOW = ("Now {he} {has} {calc} dollars.", "{He} {has} {calc} dollars now.")
M_LEFT = ("{He} {has} {calc} dollars left.", "That leaves {calc} dollars.")


def _money_start(d: Draft, _: Thing, __: int) -> tuple[int, str]:
    n = d.rng.randint(15, 90)
    d.tell(("{name} has ${n}.", "{name} has ${n} in {his} piggy bank.", "{name} saved ${n}.",
            "{name} starts the week with ${n}."), n=n)
    return n, ""


def _money_wage(d: Draft, _: Thing, __: int) -> tuple[int, str]:
    r, h = d.rng.randint(4, 15), d.rng.randint(2, 9)
    d.tell(("{name} earns ${r} an hour and works {h} hours.", "{name} works {h} hours at ${r} per hour.",
            "{name} gets paid ${r} per hour and works for {h} hours."), r=r, h=h)
    return d.work(("{He} {earns} {calc} dollars.", "That is {calc} dollars."), r, "*", h), "gain"


def _money_savings(d: Draft, _: Thing, __: int) -> tuple[int, str]:
    r, w = d.rng.randint(3, 20), d.rng.randint(2, 9)
    d.tell(("{name} saves ${r} a week for {w} weeks.", "For {w} weeks, {name} saves ${r} each week."),
           r=r, w=w)
    return d.work(("{He} {saves} {calc} dollars.", "That is {calc} dollars."), r, "*", w), "gain"


def _money_gain(d: Draft, _: Thing, total: int) -> tuple[int, str]:
    n = d.rng.randint(3, 40)
    d.tell(("{He} {earns} ${n} more.", "{His} aunt gives {him} ${n}.", "{He} {gets} ${n} for {his} birthday.",
            "{He} {is} given ${n}.", "{He} {receives} ${n} from {friend}."), n=n, friend=d.others(1)[0].name)
    return d.work(M_NOW, total, "+", n), "gain"


def _money_spend(d: Draft, _: Thing, total: int) -> tuple[int, str] | None:
    if total < 6:
        return None
    n = d.rng.randint(2, min(total // 2, 40))
    d.tell(("{He} {spends} ${n} on a {item}.", "{He} {buys} a {item} for ${n}.", "{He} {pays} ${n} for a {item}.",
            "{He} {gives} ${n} to {friend}."), n=n, item=d.rng.choice(ITEMS), friend=d.others(1)[0].name)
    return d.work(M_LEFT, total, "-", n), "loss"


def _money_buy_many(d: Draft, _: Thing, total: int) -> tuple[int, str] | None:
    g, p = d.rng.randint(2, 6), d.rng.randint(2, 12)
    if g * p >= total:
        return None
    item = d.rng.choice(ITEMS)
    d.tell(("{He} {buys} {g} {items} for ${p} each.", "{He} {buys} {g} {items} at ${p} each.",
            "{He} {buys} {g} {items} that cost ${p} each."), g=g, p=p, items=plural(item))
    cost = d.work(("The {items} cost {calc} dollars.", "{He} {spends} {calc} dollars."), g, "*", p,
                  items=plural(item))
    return d.work(M_LEFT, total, "-", cost), "loss"


def _money_job(d: Draft, _: Thing, total: int) -> tuple[int, str]:
    g, p = d.rng.randint(2, 8), d.rng.randint(3, 12)
    d.tell(("Then {he} {works} {g} hours at ${p} per hour.", "{He} {washes} {g} cars for ${p} each.",
            "{He} {earns} ${p} an hour for {g} hours of babysitting."), g=g, p=p)
    earned = d.work(("{He} {earns} {calc} dollars.", "That is {calc} dollars."), g, "*", p)
    return d.work(M_NOW, total, "+", earned), "gain"


def _money_half(d: Draft, _: Thing, total: int) -> tuple[int, str] | None:
    if total % 2:
        return None
    d.tell(("{He} {spends} half of {his} money on a {item}.", "{He} {gives} half of {his} money to {friend}."),
           item=d.rng.choice(ITEMS), friend=d.others(1)[0].name)
    return d.work(M_LEFT, total, "/", 2), "loss"


MONEY_STARTS: tuple[tuple[int, Move], ...] = ((0, _money_start), (0, _money_start), (1, _money_wage),
                                              (1, _money_savings))
MONEY_MOVES: tuple[tuple[int, Move], ...] = ((1, _money_gain), (1, _money_spend), (1, _money_spend),
                                             (2, _money_buy_many), (2, _money_job), (1, _money_half))
MONEY_QUESTIONS = {
    "": ("How much money does {name} have now?", "How many dollars {does} {he} have now?"),
    "gain": ("How much money does {name} have now?", "How much money does {name} have in all?",
             "How many dollars does {name} have altogether?"),
    "loss": ("How much money does {name} have left?", "How much money {does} {he} have left?",
             "How many dollars does {name} have left?"),
}


def _running(d: Draft, steps: int, thing: Thing, starts: Sequence[tuple[int, Move]],
             moves: Sequence[tuple[int, Move]], questions: dict[str, Sequence[str]]) -> None:
    """A start, then moves until the chain has `steps` calculations, then a question that fits the last move."""
    cost, start = d.rng.choice([s for s in starts if s[0] <= steps])
    total, kind = start(d, thing, 0)
    left, last = steps - cost, start
    while left:
        for _ in range(50):  # moves that do not apply to this total are drawn again
            # never the same move twice in a row: "She gives away 5. She gives away 3." reads like a mistake
            cost, move = d.rng.choice([m for m in moves if m[0] <= left and m[1] is not last])
            done = move(d, thing, total)
            if done is not None:
                break
        else:
            raise _Retry
        (total, kind), left, last = done, left - cost, move
    d.ask(questions[kind], obj=thing.plural)


def _items(d: Draft, steps: int) -> None:
    thing = d.rng.choice(THINGS)
    d.topics.add(thing.plural)
    _running(d, steps, thing, ITEM_STARTS, ITEM_MOVES, ITEM_QUESTIONS)


def _money(d: Draft, steps: int) -> None:
    d.topics.add("dollars")
    _running(d, steps, MONEY, MONEY_STARTS, MONEY_MOVES, MONEY_QUESTIONS)


# ------------------------------------------------------------ family: amounts in consecutive periods

ACTIVITIES = (  # (past tense, base form, what is done)
    ("sold", "sell", ("clips", "cookies", "cupcakes", "tickets", "bracelets", "candles")),
    ("picked", "pick", ("apples", "strawberries", "flowers", "tomatoes")),
    ("baked", "bake", ("cookies", "muffins", "pies", "cakes")),
    ("read", "read", ("pages", "books")),
    ("collected", "collect", ("shells", "stamps", "cans", "rocks")),
    ("caught", "catch", ("fish",)),
    ("ran", "run", ("miles", "laps")),
    ("made", "make", ("bracelets", "paper cranes", "sandwiches")),
    ("saved", "save", ("dollars",)),
    ("earned", "earn", ("dollars",)),
)
PERIODS = (  # (preposition, consecutive periods)
    ("in", ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December")),
    ("on", ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")),
    ("in the", ("morning", "afternoon", "evening")),
)


# which amounts are told relative to the one before, by steps: (relative amounts) + (periods - 1) sums
RELATIVE = {1: ((False,),), 2: ((True,),), 3: ((True, False), (False, True)), 4: ((True, True),)}
SUM_SO_FAR = ("So far {he} {did} {calc} {obj}.", "That is {calc} {obj} so far.")
SUM_ALL = ("Altogether {he} {did} {calc} {obj}.", "In all, {he} {did} {calc} {obj}.",
           "{He} {did} {calc} {obj} in total.")


def _periods(d: Draft, steps: int) -> None:
    """ "Natalia sold 48 clips in April, and then half as many in May": 2 or 3 periods, each amount after the
    first given or told relative to the one before; the question asks for the total."""
    did, do, whats = d.rng.choice(ACTIVITIES)
    what = d.rng.choice(whats)
    thing = MONEY if what == "dollars" else Thing(what)
    d.topics.add(what)
    prep, names = d.rng.choice(PERIODS)
    relative = d.rng.choice(RELATIVE[steps])
    first = d.rng.randrange(len(names) - len(relative))
    names = names[first:first + len(relative) + 1]
    when = [f"{prep} {n}" for n in names]
    a = d.rng.randint(6, 60)
    amounts = [a]
    slots = dict(did=did, obj=thing.plural, p1=when[0], P1=cap(when[0]), p2=when[1], P2=cap(when[1]),
                 a=thing.amount(a))
    if relative[0]:  # the first sentence tells the first two periods
        op, b, rel = _relation(d.rng, a, thing)
        amounts.append(d.work(("{P2} {he} {did} {calc} {obj}.", "{He} {did} {calc} {obj} {p2}."), a, op, b,
                              **slots))
        texts = ["{name} {did} {a} {p1}, and then {he} {did} {rel} {p2}.", "{name} {did} {a} {p1} and {rel} {p2}.",
                 "{P1} {name} {did} {a}. {P2} {he} {did} {rel}.", "{name} {did} {a} {p1}. {P2} {he} {did} {rel}."]
        if did == "sold" and thing is not MONEY:  # GSM8K's first problem
            texts.append("{name} sold {obj} to {n} of {his} friends {p1}, and then {he} sold {rel} {p2}.")
        d.tell(texts, rel=rel, n=a, **slots)
    else:
        amounts.append(d.rng.randint(6, 60))
        d.tell(("{name} {did} {a} {p1} and {b} {p2}.", "{P1} {name} {did} {a}. {P2} {he} {did} {b}.",
                "{name} {did} {a} {p1}, and {b} {p2}."), b=thing.amount(amounts[1]), **slots)
    if len(relative) == 2:
        third = dict(p3=when[2], P3=cap(when[2]), did=did, obj=thing.plural)
        if relative[1]:
            op, b, rel = _relation(d.rng, amounts[1], thing, than=when[1])
            amounts.append(d.work(("{P3} {he} {did} {calc} {obj}.", "{He} {did} {calc} {obj} {p3}."), amounts[1],
                                  op, b, **third))
            d.tell(("{P3} {he} {did} {rel}.", "{He} {did} {rel} {p3}."), rel=rel, **third)
        else:
            amounts.append(d.rng.randint(6, 60))
            d.tell(("{P3} {he} {did} {c}.", "{He} {did} {c} {p3}."), c=thing.amount(amounts[2]), **third)
    total = amounts[0]
    for i, n in enumerate(amounts[1:], start=2):
        total = d.work(SUM_ALL if i == len(amounts) else SUM_SO_FAR, total, "+", n, did=did, obj=thing.plural)
    span = f"{prep} {', '.join(names[:-1])} and {names[-1]}"
    how = thing.how_many
    d.ask((f"{how} did {{name}} {do} altogether {span}?", f"{how} did {{name}} {do} in all?",
           f"{how} did {{he}} {do} in total?", f"{how} did {{name}} {do} {span} combined?"))


# ---------------------------------------------------------------- family: people or ages compared

COUNT_TALK = {
    "intro": ("{A} has {amt}.", "There are {amt} in {A}'s {box}."),
    "relation": ("{B} has {rel}.",),
    "value": ("{B} has {calc} {obj}.", "So {B} has {calc} {obj}."),
    "last": ("How many {obj} does {X} have?",),
    "total": ("How many {obj} do {names} have altogether?", "How many {obj} do they have in all?",
              "How many {obj} do {names} have together?"),
    "pair": ("How many {obj} do {names} have altogether?", "How many {obj} do {names} have together?"),
    "partial": ("{X} and {Y} have {calc} {obj}.",),
    "sum": ("Together they have {calc} {obj}.", "Altogether they have {calc} {obj}."),
}
AGE_TALK = {
    "intro": ("{A} is {amt}.", "{A} just turned {n}.", "{A}'s age is {n}."),
    "relation": ("{B} is {rel}.",),
    "value": ("{B} is {calc} years old.", "So {B} is {calc}."),
    "last": ("How old is {X}?", "What is {X}'s age?"),
    "total": ("What is the sum of their ages?", "What is the sum of {names}'s ages?"),
    "pair": ("What is the sum of {names}'s ages?", "How old are {names} together?"),
    "partial": ("{X} and {Y} are {calc} years old together.",),
    "sum": ("The sum of their ages is {calc}.", "Together they are {calc} years old."),
}
# (people, question) -> the steps it takes: (people - 1) relations, then the question's own steps
SHAPES = {("last", 2): 1, ("last", 3): 2, ("last", 4): 3, ("total", 2): 2, ("total", 3): 4, ("pair", 3): 3,
          ("gap", 3): 3}
AGE_SHAPES = {("later", 2): 2, ("later", 3): 3, ("later", 4): 4, ("ago", 2): 2, ("ago", 3): 3}


def _compared(d: Draft, steps: int, thing: Thing, talk: dict[str, Sequence[str]],
              shapes: dict[tuple[str, int], int]) -> None:
    question, count = d.rng.choice([shape for shape, cost in shapes.items() if cost == steps])
    people = [d.person.name] + [p.name for p in d.others(count - 1)]
    limit = 90 if thing is AGE else 99
    a = d.rng.randint(4, 40)
    slots = dict(obj=thing.plural, box=thing.container)
    d.tell(talk["intro"], A=people[0], amt=thing.amount(a), n=a, **slots)
    values = [a]
    for prev, name in pairwise(people):
        op, b, rel = _relation(d.rng, values[-1], thing, than=prev, limit=limit)
        values.append(d.work(talk["value"], values[-1], op, b, B=name, **slots))
        d.tell(talk["relation"], B=name, rel=rel, **slots)
    if question == "last":
        d.ask(talk["last"], X=people[-1], **slots)
    elif question in ("total", "pair"):
        named = people if question == "total" else people[1:]
        sums = values if question == "total" else values[1:]
        total = sums[0]
        for i, n in enumerate(sums[1:], start=2):
            total = d.work(talk["sum"] if i == len(sums) else talk["partial"], total, "+", n, X=named[0],
                           Y=named[1], **slots)
        d.ask(talk[question], names=" and ".join(named) if len(named) == 2 else
              f"{', '.join(named[:-1])} and {named[-1]}", **slots)
    elif question == "gap":
        if values[-1] == values[0]:
            raise _Retry
        (hi, x), (lo, y) = sorted(((values[-1], people[-1]), (values[0], people[0])), reverse=True)
        d.work("{X} has {calc} more {obj} than {Y}.", hi, "-", lo, X=x, Y=y, **slots)
        d.ask("How many more {obj} does {X} have than {Y}?", X=x, Y=y, **slots)
    else:  # an age some years from now, or some years ago
        k = d.rng.randint(2, 15 if question == "later" else max(2, min(15, values[-1] - 1)))
        op, said, asked = (("+", "In {k} years {X} will be {calc}.", ("How old will {X} be in {k} years?",
                                                                      "In {k} years, how old will {X} be?"))
                           if question == "later" else ("-", "{k} years ago {X} was {calc}.",
                                                        ("How old was {X} {k} years ago?",)))
        d.work(said, values[-1], op, k, X=people[-1], k=k)
        d.ask(asked, X=people[-1], k=k)


def _counts(d: Draft, steps: int) -> None:
    thing = d.rng.choice(THINGS)
    d.topics.add(thing.plural)
    _compared(d, steps, thing, COUNT_TALK, SHAPES)


def _ages(d: Draft, steps: int) -> None:
    d.topics.add("years")
    shapes = {shape: cost for shape, cost in {**SHAPES, **AGE_SHAPES}.items() if shape[0] != "gap"}
    _compared(d, steps, AGE, AGE_TALK, shapes)


# -------------------------------------------------------------------------------- family: rates

RATES = (  # (verb, base form, what, per, unit of time)
    ("reads", "read", Thing("pages"), "a day", "days"),
    ("walks", "walk", Thing("miles"), "a day", "days"),
    ("swims", "swim", Thing("laps"), "a day", "days"),
    ("makes", "make", Thing("bracelets"), "a day", "days"),
    ("plants", "plant", Thing("trees"), "a day", "days"),
    ("bakes", "bake", Thing("cookies"), "an hour", "hours"),
    ("earns", "earn", MONEY, "an hour", "hours"),
    ("saves", "save", MONEY, "a week", "weeks"),
)


RATE_SHAPES = {1: (("one", False),), 2: (("weeks", False), ("one", True)), 3: (("two", False), ("weeks", True)),
               4: (("two", True),)}  # steps: one stretch 1, in weeks 2, two stretches 3; a goal 1 more


def _rates(d: Draft, steps: int) -> None:
    """ "Mia reads 12 pages a day for 3 days": one or two stretches at a rate (days may be told in weeks), the
    total, and maybe what is still needed for a goal."""
    verb, base, thing, per, unit = d.rng.choice(RATES)
    d.topics.update({thing.plural, unit})
    shape, goal = d.rng.choice([s for s in RATE_SHAPES[steps] if s[0] != "weeks" or unit == "days"])
    slots = dict(verb=verb, he_verb=agree(verb, d.person.pronoun == "they"), base=base, obj=thing.plural,
                 per=per, unit=unit)
    stretch = "In {t} {unit} {he} {he_verb} {calc} {obj}."
    r = d.rng.randint(2, 9 if shape == "weeks" else 15)
    if shape == "two":
        r2, t, t2 = d.rng.randint(2, 15), d.rng.randint(2, 9), d.rng.randint(2, 9)
        d.tell(("{name} {verb} {r} {per} for {t} {unit} and {r2} {per} for {t2} {unit}.",
                "{name} {verb} {r} {per} for {t} {unit}. Then {he} {he_verb} {r2} {per} for {t2} {unit}."),
               r=thing.amount(r), r2=thing.amount(r2), t=t, t2=t2, **slots)
        first = d.work(stretch, r, "*", t, t=t, **slots)
        second = d.work(stretch, r2, "*", t2, t=t2, **slots)
        total = d.work("In all {he} {he_verb} {calc} {obj}.", first, "+", second, **slots)
    else:
        t = d.rng.randint(2, 9)
        if shape == "weeks":
            w = d.rng.randint(2, 4)
            d.tell(("{name} {verb} {r} {per} for {w} weeks.", "For {w} weeks, {name} {verb} {r} {per}."),
                   r=thing.amount(r), w=w, **slots)
            t = d.work(("{w} weeks is {calc} days.", "There are {calc} days in {w} weeks."), 7, "*", w, w=w)
        else:
            d.tell(("{name} {verb} {r} {per} for {t} {unit}.", "For {t} {unit}, {name} {verb} {r} {per}."),
                   r=thing.amount(r), t=t, **slots)
        total = d.work((stretch, "{He} {he_verb} {calc} {obj} in all."), r, "*", t, t=t, **slots)
    if goal:
        target = total + d.rng.randint(3, 60)
        d.tell("{name} wants to {base} {n} in all.", n=thing.amount(target), **slots)
        d.work(("{He} still {needs} {calc} {obj}.", "{He} {needs} {calc} more {obj}."), target, "-", total, **slots)
        more = thing.how_many_more
        d.ask((f"{more} {{does}} {{he}} need to {base}?", f"{more} does {{name}} need to {base}?"))
    else:
        how = thing.how_many
        d.ask((f"{how} {{does}} {{he}} {base} in all?", f"{how} does {{name}} {base} altogether?",
               f"{how} does {{name}} {base} in total?"))


# ---------------------------------------------------------------------------- family: shopping

BUY_FIRST = ("{name} buys {g} {items} for ${p} each.", "{name} buys {g} {items} at ${p} each.",
             "{name} buys {g} {items}. Each one costs ${p}.")
BUY_MORE = ("{He} also {buys} {g} {items} at ${p} each.", "Then {he} {buys} {g} {items} for ${p} each.")
COST = ("The {items} cost {calc} dollars.", "{g} {items} cost {calc} dollars.")
SPENT = ("In all {he} {spends} {calc} dollars.", "{He} {pays} {calc} dollars in total.")
# (kinds of item bought several at a time, a single item too, change from a bill): each kind costs one step,
# each sum one, the change one
SHOPPING = ((1, False, False), (1, True, False), (1, False, True), (2, False, False), (1, True, True),
            (2, False, True), (2, True, False))


def _shopping(d: Draft, steps: int) -> None:
    """Items bought several at a time (and maybe one single item), the total, and maybe the change."""
    kinds, single, change = d.rng.choice([s for s in SHOPPING if 2 * s[0] - 1 + s[1] + s[2] == steps])
    d.topics.add("dollars")
    items = d.rng.sample(ITEMS, 3)
    total = 0
    for i, item in enumerate(items[:kinds]):
        g, p = d.rng.randint(2, 6), d.rng.randint(2, 12)
        d.tell(BUY_MORE if i else BUY_FIRST, g=g, p=p, items=plural(item))
        cost = d.work(COST, g, "*", p, g=g, items=plural(item))
        total = d.work(SPENT, total, "+", cost) if i else cost
    if single:
        q = d.rng.randint(3, 20)
        d.tell(("{He} also {buys} a {item} for ${q}.", "Then {he} {buys} a {item} for ${q}."), item=items[2], q=q)
        total = d.work(SPENT, total, "+", q)
    if change:
        bills = [b for b in (10, 20, 50, 100) if b > total]
        if not bills:
            raise _Retry
        bill = d.rng.choice(bills)
        d.tell(("{He} {pays} with a ${bill} bill.", "{He} {gives} the cashier ${bill}."), bill=bill)
        d.work(("{His} change is {calc} dollars.", "{He} {gets} {calc} dollars back."), bill, "-", total)
        d.ask(("How much change does {name} get?", "How much change {does} {he} get back?"))
    else:
        d.ask(("How much does {name} spend?", "How much money does {name} spend in all?",
               "How much {does} {he} pay altogether?"))


# ------------------------------------------------------------------------------ family: sharing

SHARING = ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1))


def _sharing(d: Draft, steps: int) -> None:
    """A pool (given or in packs, maybe with a gift), maybe some kept or eaten, the rest shared equally."""
    thing = d.rng.choice(THINGS)
    d.topics.add(thing.plural)
    packs, gift, keep = d.rng.choice([s for s in SHARING if sum(s) + 1 == steps])
    slots = dict(obj=thing.plural, boxes=plural(thing.container))
    if packs:
        g, k = d.rng.randint(2, 6), d.rng.randint(3, 12)
        d.tell(("{name} has {g} {boxes} of {obj} with {k} in each.", "{name} buys {g} {boxes} of {k} {obj}."),
               g=g, k=k, **slots)
        pool = d.work(HAS, g, "*", k, **slots)
    else:
        pool = d.rng.randint(12, 60)
        d.tell(("{name} has {n} {obj}.", "{name} picks up {n} {obj}."), n=pool, **slots)
    if gift:
        n = d.rng.randint(2, 20)
        d.tell(("{friend} gives {him} {n} more {obj}.", "{He} {gets} {n} more {obj}."), n=n,
               friend=d.others(1)[0].name, **slots)
        pool = d.work(NOW, pool, "+", n, **slots)
    if keep:  # what is kept makes the rest divide exactly
        f = d.rng.randint(2, 8)
        m = pool % f or f
        d.tell(("{He} {eats} {m} of the {obj}." if thing.edible else "{He} {keeps} {m} of the {obj}.",
                "{He} {keeps} {m} of the {obj}."), m=m, **slots)
        pool = d.work(("That leaves {calc} {obj}.", "{He} {has} {calc} {obj} to share."), pool, "-", m, **slots)
    else:  # the pool itself has to divide exactly
        divisors = [f for f in range(2, 9) if pool % f == 0 and pool // f > 1]
        if not divisors:
            raise _Retry
        f = d.rng.choice(divisors)
    friends = d.rng.choice(FRIENDS)
    rest = "the rest" if keep else "the {obj}"
    # "among", not "with": "shares with 5 friends" might count the sharer as a sixth
    d.tell((f"{{He}} {{shares}} {rest} equally among {{f}} {{friends}}.",
            f"{{He}} {{gives}} {rest} out equally to {{f}} {{friends}}."), f=f, friends=friends, **slots)
    d.work(("Each one gets {calc} {obj}.", "Each of them gets {calc} {obj}."), pool, "/", f, **slots)
    d.ask(("How many {obj} does each of the {friends} get?", "How many {obj} does each {friend} get?"),
          friends=friends, friend=friends[:-1], **slots)


FAMILIES: tuple[Callable[[Draft, int], None], ...] = (_items, _money, _periods, _counts, _ages, _rates,
                                                       _shopping, _sharing)

# --------------------------------------------------------------------------------- distractors

DISTRACTORS = (  # (topic, sentence, smallest and largest number): never about what the problem counts
    ("years", "{name} is {n} years old.", 6, 15),
    ("miles", "{name} lives {n} miles from school.", 2, 20),
    ("minutes", "It takes {name} {n} minutes to walk to the park.", 5, 40),
    ("students", "There are {n} students in {name}'s class.", 15, 35),
    ("cousins", "{name} has {n} cousins.", 2, 12),
    ("hours", "{name} sleeps {n} hours a night.", 6, 11),
    ("dollars", "{name}'s bike cost ${n}.", 50, 200),
    ("stickers", "{name} also has {n} stickers.", 3, 40),
    ("marbles", "{name} keeps {n} marbles in a jar.", 3, 40),
    ("pages", "{name}'s favorite book has {n} pages.", 50, 300),
)


def _distract(d: Draft) -> None:
    """Insert a sentence with a number the answer does not need, anywhere after the first sentence. Its number
    is none the problem or its chain already has, so that it is plainly not needed."""
    taken = numbers_in(text_of(d)) | {n for c in d.calcs for n in (c.a, c.b, c.c)}
    _, text, lo, hi = d.rng.choice([t for t in DISTRACTORS if t[0] not in d.topics])
    n = d.rng.choice([n for n in range(lo, hi + 1) if n not in taken])
    d.template.append(text)
    d.sentences.insert(d.rng.randint(1, len(d.sentences)), say(text, d.person, n=n))


# --------------------------------------------------------------------------------- problems

# Level L: (L - 1) % 4 + 1 calculation steps; levels 5-8 add a distractor sentence.
LEVELS = tuple(range(1, 9))
DEFAULT_LEVELS = LEVELS


def level_shape(level: int) -> tuple[int, bool]:
    """(calculation steps, distractor) of a difficulty level."""
    if level not in LEVELS:
        raise ValueError(f"word has levels {LEVELS[0]}-{LEVELS[-1]}, not {level}")
    return (level - 1) % 4 + 1, level > 4


@dataclass(frozen=True, slots=True)
class Gold:
    calcs: tuple[tuple[int, str, int, int], ...]  # the keys of the gold calculations
    answer: int


_GOLD: dict[str, Gold] = {}  # every problem generated in this process: what `check_steps` grades exactly


def make(rng: random.Random, level: int) -> Draft:
    """One problem of a level, as a finished draft (text, gold steps, the templates it used)."""
    steps, distractor = level_shape(level)
    while True:
        d = Draft(rng, rng.choice(PEOPLE))
        try:
            rng.choice(FAMILIES)(d, steps)
        except _Retry:
            continue
        assert len(d.calcs) == steps, (d.template, d.calcs)
        if distractor:
            _distract(d)
        return d


def text_of(d: Draft) -> str:
    return " ".join(d.sentences + [d.question])


def _example(d: Draft, level: int) -> Example:
    text, answer = text_of(d), d.calcs[-1].c
    _GOLD[canonical(text)] = Gold(tuple(c.key for c in d.calcs), answer)
    return Example(text, str(answer), tuple(d.lines) + (f"The answer is {answer}.",), level)


def generate(split: str, count: int, *, seed: int = 0, levels: Collection[int] | None = None) -> list[Example]:
    """`count` problems of one split (see `generated.draw`); difficulty is the level (steps x distractor)."""
    return draw(split, count, lambda rng, level: _example(make(rng, level), level), task="word", seed=seed,
                levels=levels or DEFAULT_LEVELS)


# ---------------------------------------------------------------------------------- reading

_CALC = re.compile(r"(?<![\d.,])\$?(\d+)\s*([+\-*/])\s*\$?(\d+)\s*=\s*\$?(\d+)(?![.,]?\d)")
_NUMBER = re.compile(r"\d+(?:,\d{3})*")
WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
# words that stand for a number in a calculation: "half as many" is "/ 2", "in 3 weeks" is "7 * 3" days
IMPLIED_NUMBERS = {
    "half": 2, "twice": 2, "double": 2, "doubles": 2, "doubled": 2, "triple": 3, "triples": 3, "tripled": 3,
    "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4, "fifth": 5, "dozen": 12, "dozens": 12,
    "week": 7, "weeks": 7, "hour": 60, "hours": 60, "minute": 60, "minutes": 60,
}
_LATEX = re.compile(r"[\\^{}_]|\$(?!\d)")
_QUESTION = re.compile(r"\b(?:how|what|which)\b[^?]*\?", re.I)


def numbers_in(text: str) -> set[int]:
    """The numbers a problem gives: numerals ("$12", "1,200"), number words and the numbers words imply."""
    found = {int(n.replace(",", "")) for n in _NUMBER.findall(text)}
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in WORD_NUMBERS or word in IMPLIED_NUMBERS:
            found.add(WORD_NUMBERS.get(word) or IMPLIED_NUMBERS[word])
    return found


def recognise(text: str) -> bool:
    """A plain-English word problem: a number, a question (how/what ... ?), at least six words, at most 400
    characters, and no LaTeX (a "$" only before a dollar amount)."""
    text = text.strip()
    words = re.findall(r"[A-Za-z]+", text)
    has_number = bool(_NUMBER.search(text)) or any(w.lower() in WORD_NUMBERS for w in words)
    return (len(text) <= 400 and len(words) >= 6 and has_number and not _LATEX.search(text)
            and bool(_QUESTION.search(text)))


def _calc_in(step: str) -> Calc | None:
    """The one calculation of a step, read as written (its claimed result), or None when it has not exactly one."""
    found = _CALC.findall(step)
    if len(found) != 1 or step.count("=") != 1:
        return None
    a, op, b, c = found[0]
    return Calc(int(a), op, int(b), int(c))


def check_steps(problem: str, steps: list[str]) -> list[bool]:
    """Per-step labels, exact for a problem generated in this process and consistent for any other (see the
    module docstring). The first bad step and every step after it are bad (the PRM800K convention), and so
    is anything after the answer line."""
    gold = _GOLD.get(canonical(problem))
    todo = Counter(gold.calcs if gold else ())
    known, last = numbers_in(problem), None
    labels, alive = [], True
    for step in steps:
        answer = extract_answer(step)
        if answer is not None:
            target = gold.answer if gold else last
            ok = alive and target is not None and not +todo and is_equivalent(answer, str(target))
            alive = False  # the chain ends here
        else:
            calc = _calc_in(step)
            ok = (alive and calc is not None and apply_op(calc.a, calc.op, calc.b) == calc.c
                  and calc.a in known and calc.b in known and (gold is None or todo[calc.key] > 0))
            if ok:
                todo[calc.key] -= 1
                known.add(calc.c)
                last = calc.c
            alive = alive and ok
        labels.append(ok)
    return labels


def canonical(text: str) -> str:
    """Whitespace collapsed: a pasted problem reads the same as the generated one."""
    return " ".join(text.split())


def solve(text: str) -> str | None:
    """The answer of a problem generated in this process (a typed one has no known answer)."""
    gold = _GOLD.get(canonical(text))
    return None if gold is None else str(gold.answer)


TASK = StepTask("word", canonical)
KIND = "grade-school word problems (totals, differences, groups and rates, money, ages, sharing)"

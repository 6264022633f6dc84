"""Chat templates for instruct generators, and `eval --task math --data FILE.jsonl` end to end."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from reasoning_core.__main__ import main
from reasoning_core.backends import TransformersGenerator
from reasoning_core.fakes import FakeArithGenerator
from reasoning_core.protocols import ModelError
from reasoning_core.tasks import MathTask, StepTask, arith
from reasoning_core.tasks.chat import MATH_SYSTEM, ChatTask, chat_task

from tiny_models import save_tiny_chat_generator, save_tiny_generator, save_tiny_qwen_prm

ROWS = [  # GSM8K, MATH with a boxed solution, MATH with an explicit answer
    {"question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
     "answer": "He has 3 + 4 = 7 apples.\n#### 7"},
    {"problem": "What is $\\frac{1}{2} + \\frac{1}{4}$?", "solution": "Add: $\\boxed{\\frac{3}{4}}$.",
     "level": "Level 1"},
    {"problem": "Compute 2 * 3.", "solution": "It is 6.", "answer": "6", "level": "Level 2"},
]


@pytest.fixture(scope="module")
def chat_folder(tmp_path_factory):
    return save_tiny_chat_generator(tmp_path_factory.mktemp("chat_generator"))


@pytest.fixture(scope="module")
def chat_gen(chat_folder):
    return TransformersGenerator(chat_folder, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in ROWS) + "\n")
    return path


def test_chat_task_wraps_only_the_prompt(chat_gen):
    task = ChatTask(MathTask(), chat_gen.tokenizer)
    assert task.prompt("  What is 1 + 1?  ") == (f"<|im_start|>system\n{MATH_SYSTEM}<|im_end|>\n"
                                                 "<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n<|im_start|>assistant\n")
    assert (task.name, task.step_delimiter) == ("math", "\n\n")
    assert task.extract_answer("so \\boxed{2}") == "2" and task.is_correct("2", "2")
    assert ChatTask(MathTask(), chat_gen.tokenizer, system=None).prompt("x").startswith("<|im_start|>user\nx")


def test_chat_template_modes(chat_gen, chat_folder, tmp_path):
    assert isinstance(chat_task(MathTask(), "auto", chat_gen), ChatTask)
    assert isinstance(chat_task(arith.TASK, "auto", chat_gen), StepTask)  # arith prompts stay plain
    assert isinstance(chat_task(MathTask(), "auto", FakeArithGenerator()), MathTask)  # no tokenizer: plain
    assert isinstance(chat_task(MathTask(), "off", chat_gen), MathTask)
    assert isinstance(chat_task(arith.TASK, "on", chat_gen), ChatTask)
    with pytest.raises(ModelError, match="--chat-template PATH"):
        chat_task(MathTask(), "on", FakeArithGenerator())
    borrowed = chat_task(MathTask(), str(chat_folder), FakeArithGenerator())  # e.g. for an openai: generator
    assert borrowed.prompt("x") == chat_task(MathTask(), "on", chat_gen).prompt("x")
    with pytest.raises(ModelError, match="has no chat template"):
        chat_task(MathTask(), str(save_tiny_generator(tmp_path, train_steps=0)), FakeArithGenerator())


def test_instruct_generator_ends_steps_at_blank_lines_and_chains_at_im_end(chat_gen):
    task = ChatTask(MathTask(), chat_gen.tokenizer)
    assert chat_gen.tokenizer.convert_tokens_to_ids("<|im_end|>") in chat_gen.eos_ids
    rows = chat_gen.propose([task.prompt("What is 2 + 2?")], 3, stop="\n\n", max_new_tokens=12, temperature=1.0,
                            seed=0)
    assert [len(r) for r in rows] == [3] and all("\n\n" not in c.text for c in rows[0])


def test_eval_math_jsonl_end_to_end(chat_folder, data, tmp_path, tmp_path_factory, capsys, caplog):
    prm = save_tiny_qwen_prm(tmp_path_factory.mktemp("qwen_prm"))
    caplog.set_level(logging.INFO, logger="reasoning_core")
    code = main(["eval", "--task", "math", "--data", str(data), "--strategies", "greedy,best_of_n,beam_search",
                 "--sizes", "1,2", "--max-step-tokens", "6", "--max-steps", "2", "--generator", str(chat_folder),
                 "--reward", f"qwen-prm:{prm}", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert "posing math problems through the generator's chat template" in caplog.text
    summary = pd.read_csv(tmp_path / "results.csv")
    assert len(summary) == 6 and (summary["n"] == 3).all()
    runs = pd.read_csv(tmp_path / "runs.csv", dtype={"reference": str})
    assert list(runs[runs.strategy == "greedy"].reference[:3]) == ["7", "\\frac{3}{4}", "6"]
    assert (runs.generated_tokens > 0).all()


@pytest.mark.parametrize("args, message", [
    (["--task", "math"], "--task math has no built-in problems; pass --data FILE.jsonl"),
    (["--task", "math", "--data", "/no/such.jsonl"], "no such problem file"),
    (["--task", "math", "--chat-template", "on", "--data", "DATA"], "--chat-template PATH"),
])
def test_eval_math_errors_are_readable(args, message, data, capsys):
    args = [str(data) if a == "DATA" else a for a in args]
    code = main(["eval", "--strategies", "greedy", "--sizes", "1", "--generator", "fake", "--reward", "fake", *args])
    assert code == 2 and message in capsys.readouterr().err


def test_solve_math_with_the_template_off(chat_folder, capsys):
    code = main(["solve", "--task", "math", "--problem", "What is 2 + 2?", "--reference", "4", "--strategy",
                 "greedy", "--max-step-tokens", "4", "--max-steps", "2", "--generator", str(chat_folder),
                 "--reward", "none", "--chat-template", "off", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["problem"] == "What is 2 + 2?"

"""Pose a task's problems to an instruct model through its own chat template.

Instruct models (Qwen2.5-Math-Instruct, Llama-3.1-Instruct, ...) reason well only inside the chat
format they were tuned on. `ChatTask` renders system + user turns with the generator's tokenizer and
opens the assistant turn; the model then writes its steps separated by blank lines and ends with a
\\boxed{} answer, which is exactly what `MathTask` splits and grades. Everything else (delimiter,
answer extraction, grading, name) is the wrapped task's.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..protocols import ModelError, Task

log = logging.getLogger(__name__)

MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
"""The system prompt Qwen2.5-Math-Instruct (and Qwen2.5-Math-PRM) were trained with."""


@dataclass(frozen=True)
class ChatTask:
    """`base` with its prompt replaced by a chat: [system], user = the problem, then the assistant's turn."""

    base: Task
    template: Any  # a tokenizer with a chat template
    system: str | None = MATH_SYSTEM

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def step_delimiter(self) -> str:
        return self.base.step_delimiter

    def messages(self, problem: str) -> list[dict[str, str]]:
        turns = [{"role": "system", "content": self.system}] if self.system else []
        return turns + [{"role": "user", "content": problem.strip()}]

    def prompt(self, problem: str) -> str:
        return self.template.apply_chat_template(self.messages(problem), tokenize=False, add_generation_prompt=True)

    def extract_answer(self, text: str) -> str | None:
        return self.base.extract_answer(text)

    def is_correct(self, answer: str | None, reference: str) -> bool:
        return self.base.is_correct(answer, reference)


def generator_tokenizer(generator: Any) -> Any | None:
    """The tokenizer a local generator reads with (transformers or vLLM), or None (servers, fakes)."""
    tokenizer = getattr(generator, "tokenizer", None)
    if tokenizer is None and hasattr(getattr(generator, "llm", None), "get_tokenizer"):
        tokenizer = generator.llm.get_tokenizer()
    return tokenizer


def chat_task(task: Task, mode: str, generator: Any, system: str | None = MATH_SYSTEM) -> Task:
    """Apply `--chat-template MODE`: "off" keeps `task`; "auto" wraps math tasks when the generator's
    tokenizer has a chat template; "on" requires one; anything else is a tokenizer folder / hub id whose
    template to use (for generators behind a server, whose tokenizer is not local)."""
    if mode == "off" or isinstance(task, ChatTask):
        return task
    if mode in ("auto", "on"):
        tokenizer = generator_tokenizer(generator)
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if mode == "auto":
            if task.name == "math" and tokenizer is None:
                log.info("the generator has no local tokenizer, so math problems are posed as plain text; "
                         "pass --chat-template TOKENIZER to use a chat template")
            if task.name != "math" or not has_template:
                return task
            log.info("posing %s problems through the generator's chat template", task.name)
        elif not has_template:
            raise ModelError("--chat-template on: the generator has no local tokenizer with a chat template; "
                             "pass a tokenizer folder or hub id instead (--chat-template PATH)")
        return ChatTask(task, tokenizer, system)
    from ..checkpoints import find_model, load_tokenizer

    tokenizer = load_tokenizer(find_model(mode))
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"the tokenizer at {mode!r} has no chat template")
    return ChatTask(task, tokenizer, system)

"""Errors a person can read: the core's user-facing exceptions become one gr.Error line, and nothing
unexpected ever reaches the page as a stack trace."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import gradio as gr

from reasoning_core.protocols import InputError, ModelError

log = logging.getLogger(__name__)


def user_error(message: str) -> gr.Error:
    """A message for the person at the screen (no traceback in the server log either)."""
    return gr.Error(message, print_exception=False)


@contextlib.contextmanager
def readable_errors() -> Iterator[None]:
    """Turn the core's user-facing exceptions into gr.Error; anything unexpected is logged with its
    traceback on the server and shown as one readable line. Also a decorator (`@readable_errors()`)."""
    try:
        yield
    except gr.Error:
        raise
    except (InputError, ModelError, ValueError, FileNotFoundError) as err:
        raise user_error(str(err)) from None
    except Exception as err:  # the UI must never show a stack trace (logged, then one readable line)
        log.exception("unexpected error in a UI handler")
        raise user_error(f"Something went wrong ({type(err).__name__}: {err}). "
                         "The details are in the server log.") from None

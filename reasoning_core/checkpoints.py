"""The ground floor every adapter stands on: find a Hugging Face model folder (a path or a cached hub
id), open its weights and tokenizer on a device, read its optional `stepwise.json`, and locate the
default checkpoints shipped in assets/. Imports nothing of the engine but `protocols`; torch and
transformers are imported by the functions that open a model, so routing a spec costs no heavy import.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .protocols import ModelError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"
DEFAULTS = {"generator": ASSETS / "generator", "prm": ASSETS / "prm", "orm": ASSETS / "orm",
            "verifier": ASSETS / "verifier"}
TRAIN_HINT = "train it with `python -m training pipeline --preset tiny --out assets`"
STEPWISE_JSON = "stepwise.json"
EXAMPLES_JSON = "examples.json"
"""Beside the shipped models: example problems they solve (written by `python -m training examples`)."""


def find_model(name: str | Path, local_files_only: bool = True) -> Path:
    """The local folder holding model `name`: a folder path, or a hub id found in the Hugging Face cache
    (downloaded first when `local_files_only` is False)."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"no model at {str(name)!r}: the folder has no config.json "
                             "(expected a Hugging Face model folder written by save_pretrained)")
        return path
    if path.exists() or looks_like_path(str(name)):
        what = "a file, not a folder" if path.exists() else "no such folder"
        raise ModelError(f"no model at {str(name)!r}: {what} (expected a Hugging Face model folder)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(name), local_files_only=local_files_only,
                                      ignore_patterns=["*.gguf", "*.onnx", "*.h5", "*.msgpack", "original/*"]))
    except Exception as e:  # the hub raises many types (validation, not cached, offline, 404)
        where = "in the local Hugging Face cache" if local_files_only else "on the Hugging Face hub"
        hint = " (downloads are off; pass local_files_only=False to allow them)" if local_files_only else ""
        raise ModelError(f"no model at {str(name)!r}: not a local folder, and could not be found {where}{hint}: "
                         f"{type(e).__name__}") from e


def looks_like_path(name: str) -> bool:
    """Hub ids are `owner/name`; anything else with a separator or a leading dot/tilde is a path."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" is the GPU when there is one, else the CPU."""
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_pretrained(auto_cls: Any, folder: Path, *, device: str | torch.device = "auto",
                    dtype: str | torch.dtype | None = None, trust_remote_code: bool = False) -> Any:
    """Load weights with `auto_cls` onto `device` in eval mode. Default dtype: float32 on CPU (bf16 is
    slow there), the checkpoint's own dtype on GPU."""
    import torch

    dev = pick_device(device)
    if dtype is None:
        dtype = "auto" if dev.type == "cuda" else torch.float32
    try:
        model = auto_cls.from_pretrained(folder, dtype=dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelError(f"could not load {auto_cls.__name__} from {str(folder)!r}: {e}") from e
    return model.to(dev).eval()


def load_tokenizer(folder: Path, trust_remote_code: bool = False) -> Any:
    """The checkpoint's tokenizer, with EOS standing in as the pad token when it has none."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config_path = folder / "tokenizer_config.json"
    declared = json.loads(config_path.read_text()).get("tokenizer_class") if config_path.is_file() else None
    # AutoTokenizer prefers the model type's tokenizer class (e.g. Qwen2Tokenizer), which rebuilds a
    # custom tokenizer.json with that family's pre-tokenizer; a plain tokenizer.json must load as saved
    auto = PreTrainedTokenizerFast if declared in ("TokenizersBackend", "PreTrainedTokenizerFast") else AutoTokenizer
    try:
        tokenizer = auto.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelError(f"could not load a tokenizer from {str(folder)!r}: {e}") from e
    return ensure_pad_token(tokenizer)


def ensure_pad_token(tokenizer: Any) -> Any:
    """Batching needs a pad token; EOS is the usual stand-in (it is masked out anyway)."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelError("the tokenizer has neither a pad token nor an EOS token, so inputs cannot be batched")
        log.info("tokenizer has no pad token; using EOS %r", tokenizer.eos_token)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def read_stepwise_json(folder: Path) -> dict[str, Any]:
    """The checkpoint's stepwise.json (written by our training pipeline), or {} when absent."""
    path = folder / STEPWISE_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"{path} is not valid JSON: {e}") from e


def trained_tasks(folder: Path) -> tuple[str, ...] | None:
    """The generated tasks a checkpoint was trained on (its stepwise.json `tasks`), None when unknown."""
    tasks = read_stepwise_json(folder).get("tasks")
    return tuple(tasks) if tasks else None


def trained_levels(folder: Path) -> dict[str, list[int]]:
    """The difficulty levels a checkpoint was trained on, per task (stepwise.json `levels`; a task it
    does not list was trained on all its default levels)."""
    return dict(read_stepwise_json(folder).get("levels") or {})


def default_folder(role: str) -> Path:
    """The shipped checkpoint for `role` (a key of DEFAULTS), or a ModelError saying how to train it."""
    folder = DEFAULTS[role]
    if not (folder / "config.json").is_file():
        raise ModelError(f"default checkpoint not found at {folder}; {TRAIN_HINT}")
    return folder

"""Turn a model spec ("default", "oracle", a folder, a hub id, "vllm:<model>") into a loaded model.

Also the checkpoint conventions the adapters share: where a model lives on disk, how it is loaded
onto a device, and the optional `stepwise.json` that tells an adapter how its model expects problems
and steps to be written. Models are cached per process, so the CLI and the app load each one once.
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from .protocols import Generator, ModelError, RewardModel

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"
DEFAULTS = {"generator": ASSETS / "generator", "prm": ASSETS / "prm", "orm": ASSETS / "orm",
            "verifier": ASSETS / "verifier"}
# reward specs naming a shipped checkpoint; "default" is the step scorer that makes search help
DEFAULT_REWARDS = {"default": "verifier", "prm-default": "prm", "orm-default": "orm"}
TRAIN_HINT = "train it with `python -m training pipeline --preset tiny --out assets`"
STEPWISE_JSON = "stepwise.json"


def find_model(name: str | Path, local_files_only: bool = True) -> Path:
    """The local folder holding model `name`: a folder path, or a hub id found in the Hugging Face cache
    (downloaded first when `local_files_only` is False)."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"no model at {str(name)!r}: the folder has no config.json "
                             "(expected a Hugging Face model folder written by save_pretrained)")
        return path
    if path.exists() or _looks_like_path(str(name)):
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


def _looks_like_path(name: str) -> bool:
    """Hub ids are `owner/name`; anything else with a separator or a leading dot/tilde is a path."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def pick_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_pretrained(auto_cls: Any, folder: Path, *, device: str | torch.device = "auto",
                    dtype: str | torch.dtype | None = None, trust_remote_code: bool = False) -> Any:
    """Load weights with `auto_cls` onto `device` in eval mode. Default dtype: float32 on CPU (bf16 is
    slow there), the checkpoint's own dtype on GPU."""
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


@dataclass(frozen=True)
class StepFormat:
    """How a reward checkpoint expects a solution written: the prompt, then each step + separator.

    `task` (a name from `reasoning_core.tasks`) wins over `prompt_template`: the problem is then posed
    exactly as that task's generator sees it (e.g. arith normalises "17 + 25" to its full question).
    `prompt_template` contains the literal `{problem}` (no other braces are special). `good_label` is
    the classifier's "step is good" class; `step_tag`, `good_token` and `bad_token` serve step-tag LMs."""

    kind: str = "prm"
    prompt_template: str = "{problem}\n"
    step_separator: str = "\n"
    good_label: int = 1
    task: str | None = None
    step_tag: str = "ки"
    good_token: str = "+"
    bad_token: str = "-"

    def __post_init__(self) -> None:
        if self.task is not None:
            from .tasks import get_task

            get_task(self.task)  # an unknown name fails now, listing the valid ones

    def prompt(self, problem: str) -> str:
        if self.task is not None:
            from .tasks import get_task

            return get_task(self.task).prompt(problem)
        return self.prompt_template.replace("{problem}", problem)


def step_format(folder: Path, base: StepFormat, overrides: dict[str, Any]) -> StepFormat:
    """`base` (the adapter's defaults or preset), then the checkpoint's stepwise.json, then the
    caller's explicit overrides (None means "not given"). A stepwise.json `kind` that differs from
    the adapter's means the checkpoint is being read the wrong way, which is an error."""
    values = {f.name: getattr(base, f.name) for f in fields(StepFormat)}
    values.update(read_stepwise_json(folder))
    if values["kind"] != base.kind:
        raise ModelError(f"{folder / STEPWISE_JSON} says this is a {values['kind']!r} model, "
                         f"but it is being loaded as a {base.kind!r} model")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return StepFormat(**values)


def read_stepwise_json(folder: Path) -> dict[str, Any]:
    """The checkpoint's stepwise.json (written by our training pipeline), or {} when absent."""
    path = folder / STEPWISE_JSON
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"{path} is not valid JSON: {e}") from e
    known = {f.name for f in fields(StepFormat)}
    unknown = sorted(set(data) - known)
    if unknown:  # metadata is welcome, but a misspelt setting should not pass silently
        log.warning("%s: ignoring unknown keys %s (settings: %s)", path, unknown, ", ".join(sorted(known)))
    return {k: v for k, v in data.items() if k in known}


def _default_folder(role: str) -> Path:
    folder = DEFAULTS[role]
    if not (folder / "config.json").is_file():
        raise ModelError(f"default checkpoint not found at {folder}; {TRAIN_HINT}")
    return folder


@functools.lru_cache(maxsize=4)
def load_generator(spec: str, **kw: Any) -> Generator:
    """A generator from "default" (assets/generator), "fake" (seeded scripted arith model, no weights),
    a local folder, a hub id, "vllm:<model>", or "openai:<base_url>[#<model>]" (any OpenAI-compatible
    /v1/completions server; the model defaults to the one the server lists; the API key comes from
    $STEPWISE_API_KEY or $OPENAI_API_KEY). Keyword arguments go to the backend (device, dtype,
    trust_remote_code, local_files_only, ...; the openai backend takes its own: timeout, max_retries, ...)."""
    if spec == "fake":
        from .fakes import FakeArithGenerator

        return FakeArithGenerator()
    if spec.startswith("vllm:"):
        from .backends.vllm_lm import VLLMGenerator

        model = spec.removeprefix("vllm:")
        return VLLMGenerator(str(_default_folder("generator")) if model == "default" else model, **kw)
    if spec.startswith("openai:"):
        from .backends.openai_lm import OpenAIGenerator

        url, _, model = spec.removeprefix("openai:").partition("#")
        local = {"device", "dtype", "trust_remote_code", "local_files_only"}  # options of local backends
        return OpenAIGenerator(url, model or None, **{k: v for k, v in kw.items() if k not in local})
    from .backends.transformers_lm import TransformersGenerator

    return TransformersGenerator(_default_folder("generator") if spec == "default" else spec, **kw)


@functools.lru_cache(maxsize=4)
def load_reward(spec: str, **kw: Any) -> RewardModel | None:
    """A reward model from "default" (assets/verifier, an agreement verifier), "prm-default" (assets/prm,
    the token-classification PRM), "orm-default" (assets/orm), "oracle", "fake", "none",
    "<preset>:<path>" for a public format (trl, qwen-prm, math-shepherd, rlhflow, agreement, orm: see
    `rewards.REWARD_PRESETS`), "vllm:<preset>:<model>" (vLLM pooling engine, GPU), or a folder / hub id
    whose `architectures` picks the adapter:
    *ForTokenClassification -> TokenClassificationPRM, *ProcessRewardModel -> TokenClassificationPRM
    with the qwen-prm preset, *ForSequenceClassification -> OutcomeRM, *ForCausalLM -> StepTagPRM, or
    AgreementVerifier when its stepwise.json says kind "agreement" (a chat PRM is a causal LM too: name its
    preset, rlhflow:PATH).
    Keyword arguments go to the adapter (the oracle takes none and ignores them)."""
    from . import rewards

    if spec == "none":
        return None
    if spec == "oracle":
        return rewards.ArithOracle()
    if spec == "fake":
        from .fakes import FakeArithPRM

        return FakeArithPRM()
    if spec.startswith("vllm:"):
        from .rewards.vllm_prm import VLLMPRM

        preset, _, model = spec.removeprefix("vllm:").partition(":")
        if not model:
            raise ValueError(f"a vLLM reward spec is vllm:<preset>:<model>, got {spec!r}; presets: qwen-prm, "
                             "math-shepherd")
        return VLLMPRM(model, preset=preset, **kw)
    name, sep, path = spec.partition(":")
    if sep and name in rewards.REWARD_PRESETS:
        return rewards.get_preset(name).load(path, **kw)
    if sep and len(name) > 1 and not _looks_like_path(name) and "/" not in name:  # "C:\\x", "./a:b" are paths
        rewards.get_preset(name)  # raises, listing the valid presets
    if spec in DEFAULT_REWARDS:
        folder = _default_folder(DEFAULT_REWARDS[spec])
    else:
        folder = find_model(spec, kw.get("local_files_only", True))
    config = json.loads((folder / "config.json").read_text())
    archs = config.get("architectures") or []
    for arch in archs:
        if arch.endswith("ForTokenClassification"):
            return rewards.TokenClassificationPRM(folder, **kw)
        if arch.endswith("ProcessRewardModel"):
            return rewards.TokenClassificationPRM(folder, **{"preset": "qwen-prm", **kw})
        if arch.endswith("ForSequenceClassification"):
            return rewards.OutcomeRM(folder, **kw)
        if arch.endswith("ForCausalLM"):
            if read_stepwise_json(folder).get("kind") == "agreement":
                return rewards.AgreementVerifier(folder, **kw)
            return rewards.StepTagPRM(folder, **kw)
    raise ModelError(f"cannot tell what kind of reward model {spec!r} is (architectures={archs}); expected "
                     "*ForTokenClassification (PRM), *ForSequenceClassification (ORM) or *ForCausalLM "
                     "(step-tag PRM), or name its format: <preset>:PATH with a preset from "
                     f"{', '.join(rewards.REWARD_PRESETS)}; or use 'oracle' or 'none'")

"""Generator backends: Hugging Face transformers (CPU or GPU) and vLLM (GPU, imported only when used)."""
from .transformers_lm import TransformersGenerator
from .vllm_lm import VLLMGenerator

__all__ = ["TransformersGenerator", "VLLMGenerator"]

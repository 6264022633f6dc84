"""Generator backends: Hugging Face transformers (CPU or GPU), vLLM (GPU, imported only when used) and any
OpenAI-compatible completions server (vllm serve, SGLang, llama.cpp, TGI) over HTTP."""
from .openai_lm import OpenAIGenerator
from .transformers_lm import TransformersGenerator
from .vllm_lm import VLLMGenerator

__all__ = ["OpenAIGenerator", "TransformersGenerator", "VLLMGenerator"]

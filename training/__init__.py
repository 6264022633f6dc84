"""stepwise's training module: data, char tokenizer, SFT + STaR, process labels (Math-Shepherd,
OmegaPRM), PRM/ORM training and GRPO, chained by `python -m training pipeline`.

Training and inference meet only at the checkpoint: every stage writes a plain Hugging Face folder
that `reasoning_core` loads with `Auto*` classes; nothing in `reasoning_core` imports this package.
"""

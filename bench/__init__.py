"""Benchmarks: each prints a table and writes JSON (and CSV/HTML) under bench/results/ or runs/.

    python -m bench.engine      engine overhead against model time, search tok/s against raw generate
    python -m bench.scaling     accuracy of every strategy against its size, overall and per difficulty
    python -m bench.claims      the papers' claims measured on the default models -> REPORT.md
    python -m bench.gpu         best-of-N and beam search on transformers and vLLM (CUDA GPU)
"""

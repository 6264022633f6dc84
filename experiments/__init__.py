"""Studies that answer one research question each; results under experiments/results/, findings in
docs/findings.md.

    python -m experiments.star_ablation   what STaR's self-generated chains add beyond replayed SFT rows
    python -m experiments.grpo_sweep      GRPO's effect on greedy accuracy over rewards and settings
    python -m experiments.step_grpo       step-level GRPO against SFT at the same states
    python -m experiments.anneal_sft      finish the schedule of an SFT run the wall clock cut short
"""
import os

# before torch starts its thread pool: see training/__main__.py (busy-waiting threads on shared cores)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

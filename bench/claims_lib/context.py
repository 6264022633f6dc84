"""One run's setting: sizes (quick / full), the default checkpoints, the problems, the folders."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from reasoning_core.checkpoints import ASSETS
from reasoning_core.tasks import get_task, recognised
from reasoning_core.tasks.loaders import Example


@dataclass
class Sizes:
    """How much every claim measures and trains. `quick` is meant for under 10 minutes on 2 CPU cores and
    `full` for under 60, on the default models (their measured times are in each committed report's header:
    bench/results/claims-quick, claims-full); tests build a micro one by hand."""

    name: str = "full"
    test_problems: int = 150     # the shared test problems (sample pool, greedy evaluations)
    val_problems: int = 100      # validation problems (claim 6 picks its per-bin policy here)
    n_max: int = 32              # largest best-of-N / majority vote (claims 3, 4, 5)
    size: int = 4                # claim 6: the size (n / rounds) of every strategy (compute_optimal probes 2 first)
    co_problems: int = 100       # claim 6: test problems per strategy
    mcts_iterations: int = 8     # claim 7
    mcts_problems: int = 150     # claim 7 (at 60 every interval of 7a-7c crossed 0; 7c holds at 150)
    rstar_problems: int = 150
    rstar_iterations: int = 4
    sft_steps: int = 800         # claim 1: CoT steps of each from-scratch generator at the full budget
    star_rounds: int = 2         # claim 2
    star_problems: int = 1000    # about 400 own right chains a round from claim 1's generator
    star_steps: int = 30         # about two epochs of them (at 120 problems, 40 steps were 25 epochs of 50 chains)
    orm_samples: int = 16        # claim 3: the ORM trained as Cobbe et al. did, on this many chains per problem
    orm_problems: int = 200
    orm_steps: int = 100
    label_problems: int = 180    # claim 5 (at 60, 62 chains: each PRM's 100 steps were 50 epochs of them)
    label_rollouts: int = 4
    prm_steps: int = 100
    grpo_steps: int = 6          # claim 8
    grpo_prompts: int = 4
    grpo_generations: int = 4
    stage_eval: int = 50         # the stage functions' own validation/test evaluations
    n_boot: int = 1000


QUICK = Sizes(name="quick", test_problems=40, val_problems=16, n_max=8, size=4, co_problems=16,
              mcts_iterations=6, mcts_problems=16, rstar_problems=8, rstar_iterations=3, sft_steps=60,
              orm_samples=4, orm_problems=60, orm_steps=20,
              star_rounds=1, star_problems=40, star_steps=15, label_problems=16, label_rollouts=3, prm_steps=30,
              grpo_steps=3, grpo_prompts=2, grpo_generations=4, stage_eval=16)
FULL = Sizes()
SIZES = {"quick": QUICK, "full": FULL}


def default_models() -> dict[str, Path]:
    """The app's defaults: the step verifier is its default PRM (`--prm assets/prm` for the token PRM).
    rStar's discriminator must be able to disagree with the generator (finishing a trajectory greedily, the
    generator reproduces its own rollouts), so it is another LM: the verifier is one, trained further."""
    return {"generator": ASSETS / "generator", "prm": ASSETS / "verifier", "orm": ASSETS / "orm",
            "discriminator": ASSETS / "verifier"}


LANGUAGE_MODELS = ("generator", "discriminator")   # roles loaded as generators; the others as reward models


@dataclass
class Context:
    """What every claim function reads: sizes, checkpoint folders, the training preset of the default
    checkpoints (architecture and problem mix), output and scratch folders, and the seed."""

    sizes: Sizes
    out: Path
    work: Path
    models: dict[str, Path] = field(default_factory=default_models)
    preset: str | None = None    # None: the preset recorded in the default generator's meta.json
    seed: int = 0
    task_name: str = "arith"
    loaded: dict = field(default_factory=dict)   # role -> model object (tests put fakes here)
    cache: dict = field(default_factory=dict)    # results claims share (the sample pool)

    def model(self, role: str):
        """The loaded generator / prm / orm / discriminator (from `models`, once per run, unless `loaded` has it)."""
        if role not in self.loaded:
            from reasoning_core.backends import load as load_generator
            from reasoning_core.rewards import load as load_reward

            path = str(self.models[role])
            self.loaded[role] = load_generator(path) if role in LANGUAGE_MODELS else load_reward(path)
        return self.loaded[role]

    @property
    def task(self):
        return get_task(self.task_name)

    def pipeline_config(self):
        """The default checkpoints' training config (training/config.py preset, with the architecture
        and difficulty they were trained with), its evaluation sizes (and the STaR / GRPO stages' paired
        set) shrunk to this run's."""
        from training.config import TaskMix, preset
        from training.sft import ModelConfig

        meta = _meta(self.models["generator"])
        saved = meta.get("config", {})
        cfg = preset(self.preset or saved.get("preset", "tiny"))
        if "model" in saved and self.preset is None:
            cfg.model = ModelConfig(**saved["model"])
        if "mix" in saved:
            cfg.mix = TaskMix(**saved["mix"])
        cfg.seed = self.seed
        cfg.eval_problems = cfg.paired_problems = self.sizes.stage_eval  # claims compare arms on their test set
        cfg.prm.eval_problems = cfg.orm.eval_problems = self.sizes.stage_eval
        return dataclasses.replace(cfg)

    def problems(self, split: str, count: int) -> list[Example]:
        """The split's problems in the default checkpoints' task mix (the pipeline's own test set)."""
        from training.data import mix_problems

        return mix_problems(self.pipeline_config().mix, split, count)

    @property
    def boot(self) -> dict:
        """The bootstrap settings every interval of the run uses."""
        return {"n_boot": self.sizes.n_boot, "seed": self.seed}

    def claim_dir(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def task_names(examples) -> list[str]:
    """Each problem's generated task (what the report's per-task rows group by); "other" for a problem
    none of them reads (a GSM8K or MATH file)."""
    return [recognised(ex.problem) or "other" for ex in examples]


def _meta(folder: Path) -> dict:
    path = Path(folder) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}

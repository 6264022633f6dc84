"""Experiment code behind `python -m bench.claims`, which reproduces the papers' claims on the tiny models.

    stats.py        seeded bootstrap confidence intervals and the holds / does-not-hold verdict
    report.py       the Row every claim returns, per-claim CSV + plotly HTML, REPORT.md from the rows
    context.py      run sizes (quick / full), the shared models, problems and folders of one run
    search_claims   claims that need no training: verifier reranking, PRM vs ORM, difficulty, MCTS/rStar
    train_claims    claims that train small variants with training/'s stage functions: CoT, STaR,
                    automatic process labels, GRPO against the PRM vs the ORM
    runner.py       runs the chosen claims in order with a progress bar and writes the report
"""

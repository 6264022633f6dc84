"""Command line: solve one problem with a search strategy, or evaluate strategies at several sizes.

    python -m reasoning_core solve --task arith --example 3 --strategy beam_search --n 8 --width 2
    python -m reasoning_core solve --problem "17 + 25 * 3 - 40" --reference 86 --strategy mcts --json
    python -m reasoning_core serve --generator default --reward default --port 8000   # OpenAI-compatible API
    python -m reasoning_core eval --task arith --strategies greedy,best_of_n,beam_search \\
        --sizes 1,4,16 --limit 50 --out runs/eval
    python -m reasoning_core eval --task math --data math500.jsonl --generator openai:http://localhost:8000/v1 \\
        --reward qwen-prm:/models/Qwen2.5-Math-PRM-7B --strategies best_of_n,beam_search --sizes 4,16
    python -m reasoning_core eval --task word --shard 0/2 --out runs/part0   # then: eval merge runs/part*/part-*.json
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from .cli_options import add_budget_args, add_search_args, budget_from, check_used, given_knobs
from .protocols import ModelError
from .search import STRATEGIES, InputError, Problem, check_problem_text, get_strategy, make_config
from .tasks import GENERATED, TASKS, coverage_notice, detect, get_task, held_out_examples, load_jsonl
from .tasks.chat import chat_task

logger = logging.getLogger("reasoning_core")


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("models")
    g.add_argument("--task", default="auto", choices=["auto", *sorted(TASKS)],
                   help="prompt format and answer grading; 'auto' (default): solve takes the generated task that "
                        "reads the problem (arith, letters, word) else math; eval takes math for --data files, "
                        "else the arith test split")
    g.add_argument("--generator", default="default", metavar="SPEC",
                   help="'default' (assets/generator), 'fake' (scripted, no weights), a local HF folder, "
                        "a hub id already in the local cache, 'vllm:MODEL' (GPU), or 'openai:URL[,URL...][#MODEL]' "
                        "(OpenAI-compatible servers such as `vllm serve`, several spread one model's load; "
                        "key from $STEPWISE_API_KEY)")
    g.add_argument("--reward", "--prm", dest="reward", default="default", metavar="SPEC",
                   help="the verifier: 'default' (the shipped step verifier, assets/verifier), 'prm-default' "
                        "(the token-classification PRM, assets/prm), 'orm-default' (the outcome RM, assets/orm), "
                        "'oracle' (exact checker, arith only), 'fake', 'none', a local HF folder (kind detected "
                        "from its config), 'PRESET:PATH' for a public format (trl, qwen-prm, math-shepherd, "
                        "rlhflow, implicit, agreement, orm), 'vllm:PRESET:MODEL' (GPU), or "
                        "'vllm-server:PRESET:URL[,URL...][#MODEL]' (PRMs behind `vllm serve --runner pooling`, "
                        "several spread the load); --prm is the old name")
    g.add_argument("--chat-template", default="auto", metavar="MODE",
                   help="pose problems through a chat template: 'auto' (math task and a generator whose "
                        "tokenizer has one; default), 'on', 'off', or a tokenizer folder / hub id to take "
                        "the template from (for openai: generators)")
    g.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")


def load_models(args: argparse.Namespace, need_reward: bool = True):
    from . import backends, rewards

    generator = backends.load(args.generator, trust_remote_code=args.trust_remote_code)
    reward = rewards.load(args.reward, trust_remote_code=args.trust_remote_code) if need_reward else None
    return generator, reward


def read_problem_file(path: str) -> str:
    """The text of a problem file ("-" reads standard input), or an InputError saying why it cannot be read."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read the problem file {path}: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"the problem file {path} is not UTF-8 text (byte {err.start})") from None


def cmd_solve(args: argparse.Namespace) -> int:
    if args.problem_file is not None:
        args.problem = read_problem_file(args.problem_file)
    if args.problem is not None:
        text, reference = args.problem, args.reference
    elif args.example is not None:
        if args.task not in {"auto", *GENERATED}:
            raise InputError(f"--task {args.task} has no built-in problems; take one of {', '.join(GENERATED)}")
        examples = held_out_examples("arith" if args.task == "auto" else args.task)
        if not 0 <= args.example < len(examples):
            raise InputError(f"--example must be between 0 and {len(examples) - 1}, got {args.example}")
        text, reference = examples[args.example].problem, examples[args.example].reference
    else:
        raise InputError("give a problem: --problem TEXT, or --task arith --example K")
    text = check_problem_text(text)
    task_name = detect(text) if args.task == "auto" else args.task
    if reference is None and task_name in GENERATED:
        reference = GENERATED[task_name].solve(text)
    get_strategy(args.strategy)
    knob_values = given_knobs(args)
    check_used([args.strategy], knob_values)
    config = make_config(args.strategy, None, **knob_values)
    budget = budget_from(args)
    from .run import collect, stream

    generator, reward = load_models(args, need_reward=STRATEGIES[args.strategy].reward != "unused")
    notice = coverage_notice(text, getattr(generator, "tasks", None))
    if notice:
        print(f"note: {notice}", file=sys.stderr)
    problem = Problem(text, chat_task(get_task(task_name), args.chat_template, generator), reference)
    events = stream(args.strategy, problem, generator, reward, budget, config)
    bar = tqdm(events, desc=args.strategy, unit=" events", disable=args.json or not sys.stderr.isatty())
    result = collect(args.strategy, problem, bar)
    if args.json:
        out = result.to_dict() | ({"notice": notice} if notice else {})
        if not args.events:
            out.pop("events")
        print(json.dumps(out, indent=2))
    else:
        print(render_tree(result))
    return 0


def render_tree(result) -> str:
    """A readable tree: chosen path marked '*', pruned steps 'x', with score / value / visits."""
    tree, lines = result.tree, [f"Problem: {result.problem.text}"]

    def walk(node_id: int, indent: str) -> None:
        for child in tree.children(node_id):
            mark = {"chosen": "*", "pruned": "x"}.get(child.status, "-")
            nums = []
            if child.score is not None:
                nums.append(f"prm={child.score:.2f}")
            if child.value is not None:
                nums.append(f"value={child.value:.2f}")
            if child.visits:
                nums.append(f"visits={child.visits}")
            lines.append(f"{indent}{mark} {child.text}  [{' '.join(nums)}]" if nums else f"{indent}{mark} {child.text}")
            walk(child.id, indent + "  ")

    walk(0, "")
    verdict = "" if result.correct is None else ("  (correct)" if result.correct else
                                                 f"  (wrong; reference {result.problem.reference})")
    s = result.stats
    lines += ["", f"Answer: {result.answer}{verdict}   [{result.strategy}, {result.status}]",
              f"Used: {s['generated_tokens']} tokens, {s['generator_calls']} generator calls, "
              f"{s['reward_calls']} reward calls, {s['nodes']} nodes, {s['wall_s']:.2f} s"]
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from .eval import EvalSpec, draw_problems, evaluate, server_load, write_results
    from .shards import Shard, run_identity, write_part

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    try:
        sizes = [int(b) for b in args.sizes.split(",") if b.strip()]
    except ValueError as err:
        raise InputError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from err
    if not strategies or not sizes or min(sizes) < 1:
        raise InputError("give at least one strategy and positive sizes, e.g. --sizes 1,4,16")
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    shard = Shard.parse(args.shard) if args.shard else None
    knob_values = given_knobs(args)
    for name in strategies:  # bad names, knobs, sizes and caps fail before any model loads
        field = get_strategy(name).config_cls.size_field
        if field is not None and knob_values.get(field) is not None:
            raise InputError(f"--{field.replace('_', '-')} is the size of {name}, which eval sweeps: use --sizes")
    check_used(strategies, knob_values)
    spec = EvalSpec(strategies, sizes, args.seed, knob_values, budget_from(args), pool=args.pool)
    spec.configs()
    task_name = ("math" if args.data else "arith") if args.task == "auto" else args.task
    if not args.data and task_name not in GENERATED:
        raise InputError(f"--task {task_name} has no built-in problems; pass --data FILE.jsonl (GSM8K or MATH "
                         f"format) or take a generated task: {', '.join(GENERATED)}")
    examples = load_jsonl(args.data)[: args.limit] if args.data else draw_problems(task_name, args.limit, args.seed)
    if not examples:
        raise InputError(f"{args.data} holds no problems")
    generator, reward = load_models(args, need_reward=any(STRATEGIES[s].reward == "required" for s in strategies))
    task = chat_task(get_task(task_name), args.chat_template, generator)
    summary, per_run = evaluate(spec, examples, task, generator, reward,
                                progress=lambda jobs: tqdm(jobs, desc="eval", unit=" search"),
                                problems=shard.problems(len(examples)) if shard else None)
    servers = server_load(generator, reward)
    if shard:  # servers are named by what they serve, not where, so each machine may use its own
        models = {"generator": getattr(generator, "served", None) or args.generator,
                  "reward": (getattr(reward, "served", None) or args.reward) if reward is not None else None,
                  "chat_template": args.chat_template}
        paths = [write_part(args.out, run_identity(spec, examples, task.name, models), shard, per_run, servers)]
    else:
        paths = write_results(summary, per_run, args.out, servers)
    _print_results(summary, servers, paths, f" (shard {shard}: merge the parts with `eval merge`)" if shard else "")
    return 0


def cmd_eval_merge(args: argparse.Namespace) -> int:
    from .eval import write_results
    from .shards import merge_parts

    merged = merge_parts(args.parts)
    paths = write_results(merged.summary, merged.per_run, args.out, merged.servers)
    _print_results(merged.summary, merged.servers, paths, f" ({len(args.parts)} parts merged)")
    return 0


def _print_results(summary, servers, paths: list, note: str) -> None:
    print(summary.to_string(index=False))
    if not servers.empty:
        print("\nservers:\n" + servers.drop(columns="error").to_string(index=False))
    print(f"\nwrote {', '.join(map(str, paths))}{note}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reasoning_core", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", required=True)

    solve = sub.add_parser("solve", help="solve one problem and show its search tree",
                           description="Solve one problem with a search strategy and print the tree "
                                       "(or one JSON object with --json).")
    src = solve.add_argument_group("problem")
    one = src.add_mutually_exclusive_group()
    one.add_argument("--problem-file", metavar="PATH",
                     help="read the problem from a UTF-8 file ('-' for standard input)")
    one.add_argument("--problem", help="the problem text, e.g. '17 + 25 * 3 - 40' (left to right), a word problem or "
                     "\"How many r's are in strawberry?\"")
    src.add_argument("--reference", help="the known answer, to grade the result")
    src.add_argument("--example", type=int, metavar="K",
                     help="take the K-th problem of the task's test split (arith's when --task is auto)")
    solve.add_argument("--strategy", default="beam_search", help=f"one of: {', '.join(STRATEGIES)}")
    solve.add_argument("--json", action="store_true", help="print one JSON object instead of a tree")
    solve.add_argument("--events", action="store_true", help="with --json: include the full event log")
    add_model_args(solve)
    add_search_args(solve)
    add_budget_args(solve)
    solve.set_defaults(func=cmd_solve)

    ev = sub.add_parser("eval", help="accuracy of strategies at several sizes",
                        description="Run strategies at several sizes (N, MCTS iterations or revision rounds) on "
                                    "held-out problems, each search under the same budget caps; write "
                                    "results.csv, runs.csv and an accuracy-vs-tokens plot.")
    ev.add_argument("--strategies", default="greedy,self_consistency,best_of_n,beam_search",
                    help=f"comma-separated, from: {', '.join(STRATEGIES)}")
    ev.add_argument("--sizes", "--budgets", dest="sizes", default="1,4,16",
                    help="comma-separated strategy sizes (default 1,4,16; --budgets is the old name)")
    ev.add_argument("--limit", type=int, default=50, help="number of problems (default 50)")
    ev.add_argument("--data", help="a GSM8K- or MATH-format JSONL file instead of the built-in test split")
    ev.add_argument("--out", default="runs/eval", help="output folder (default runs/eval)")
    ev.add_argument("--shard", metavar="I/K",
                    help="run part I (from 0) of K: the problems whose index is I modulo K; writes "
                         "OUT/part-I-of-K.json for `eval merge` (run every part with the same other options)")
    ev.add_argument("--pool", action="store_true",
                    help="run best_of_n and self_consistency once at the largest size and estimate the smaller "
                         "sizes from random subsets of its chains (rows marked pooled)")
    add_model_args(ev)
    add_search_args(ev)
    add_budget_args(ev)
    ev.set_defaults(func=cmd_eval)
    ev_sub = ev.add_subparsers(metavar="{merge}")
    merge = ev_sub.add_parser("merge", help="merge the parts of a sharded eval into one run's results",
                              description="Check that the part files are every part of one run (same options, "
                                          "each shard once) and write the results.csv, runs.csv and plot a "
                                          "single run writes, plus servers.csv when the parts used server pools.")
    merge.add_argument("parts", nargs="+", metavar="PART", help="the part-I-of-K.json files, one per shard")
    merge.add_argument("--out", default="runs/eval", help="output folder (default runs/eval)")
    merge.set_defaults(func=cmd_eval_merge)
    add_serve_parser(sub)
    return parser


def add_serve_parser(sub) -> None:
    from .budget import Budget
    from .cli_options import add_knob
    from .knobs import knobs
    from .serve import DEFAULT_CAPS, ServeConfig

    serve = sub.add_parser("serve", help="an OpenAI-compatible API that answers with a search",
                           description="Serve /v1/chat/completions, /v1/completions and /v1/models: the request's "
                                       "model names the strategy and its settings (beam_search, mcts?iterations=32), "
                                       "the answer is the chosen chain, the tree and stats ride in the 'stepwise' "
                                       "field; stream=true sends the search's frames and then its steps.")
    add_model_args(serve)
    g = serve.add_argument_group("server")
    for k in knobs(ServeConfig):
        add_knob(g, k, k.default, k.help if k.type is bool or k.default is None else f"{k.help} (default {k.default})")
    caps = serve.add_argument_group("budget caps of every request (a request may ask for less, never more)")
    for k in knobs(Budget):
        add_knob(caps, k, getattr(DEFAULT_CAPS, k.name), f"{k.help} (default {getattr(DEFAULT_CAPS, k.name)})")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from .budget import Budget
    from .knobs import knobs
    from .serve import ServeConfig, serve

    settings = {k.name: getattr(args, k.name) for k in knobs(ServeConfig)}
    settings["api_key"] = settings["api_key"] or os.environ.get("STEPWISE_SERVE_API_KEY") or None
    config = ServeConfig(**settings, caps=Budget(**{k.name: getattr(args, k.name) for k in knobs(Budget)}),
                         task=args.task, chat_template=args.chat_template)
    generator, reward = load_models(args)
    serve(generator, reward, config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (InputError, ModelError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

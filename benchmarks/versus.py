"""Milliseconds per training step of two minigrad source trees, A against B,
each worker a fresh process, alternated A B A B over rounds: the gain of one
change (a speed trick on or off), measured as a user runs it.

    python benchmarks/versus.py TREE_A TREE_B                     # step.py's four settings, 5 rounds
    python benchmarks/versus.py TREE_A TREE_B --rounds 7 --setting fixed-b128-28

A tree is a folder holding ``minigrad/`` and ``benchmarks/`` (a checkout,
or ``git archive main | tar -x -C DIR``). Each worker is the tree's own
``benchmarks/step.py --worker minigrad`` with ``PYTHONPATH`` set to the tree.
Prints, per setting, each tree's median ms per step and the median of the
per-round ratios A / B with their min-max range (below 1: A is faster).
"""
import argparse
import json
import os
import subprocess
import sys

from common import median
from step import SETTINGS, parse_setting


def worker_ms(tree, setting, steps):
    """One fresh worker of ``tree``: its median ms per step."""
    command = [sys.executable, os.path.join(tree, "benchmarks", "step.py"), "--worker", "minigrad",
               "--setting", setting, "--steps", str(steps)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=os.path.abspath(tree)))
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["ms"]


def compare_trees(tree_a, tree_b, setting, rounds, steps):
    """(median ms of A, median ms of B, median ratio A/B, min ratio, max ratio)."""
    times_a, times_b = [], []
    for _ in range(rounds):
        times_a.append(worker_ms(tree_a, setting, steps))
        times_b.append(worker_ms(tree_b, setting, steps))
    ratios = [a / b for a, b in zip(times_a, times_b)]
    return median(times_a), median(times_b), median(ratios), min(ratios), max(ratios)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tree_a")
    p.add_argument("tree_b")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--setting", default=None, help="one setting (default: step.py's four)")
    args = p.parse_args()
    for tree in (args.tree_a, args.tree_b):
        if not os.path.isfile(os.path.join(tree, "benchmarks", "step.py")):
            p.error(f"{tree!r} holds no benchmarks/step.py: not a minigrad source tree")
    if args.rounds < 1 or args.steps < 1:
        p.error("--rounds and --steps must be >= 1")
    settings = SETTINGS if args.setting is None else [args.setting]
    try:
        for setting in settings:
            parse_setting(setting)
    except argparse.ArgumentTypeError as error:
        p.error(str(error))
    print(f"A = {args.tree_a}, B = {args.tree_b}, {args.rounds} rounds of {args.steps} steps\n")
    print("| setting | A ms | B ms | A / B (min–max) |\n|---|---:|---:|---:|")
    for setting in settings:
        a, b, ratio, low, high = compare_trees(args.tree_a, args.tree_b, setting, args.rounds,
                                               args.steps)
        print(f"| {setting} | {a:.1f} | {b:.1f} | {ratio:.2f} ({low:.2f}–{high:.2f}) |",
              flush=True)


if __name__ == "__main__":
    main()

"""python -m minigrad.exercises [list | start NAME [FILE] | check NAME FILE]

Exit status: 0 when the command did its job (for check: every check passed),
1 when a check failed or the command could not be done, 2 for a usage error.
"""
import argparse
import sys

from minigrad.backend import GPUUnavailableError

try:
    from minigrad.exercises.commands import DEFAULT_EXAMPLES, ExerciseError, check_file, listing, start
except ModuleNotFoundError as missing:  # the checks are hypothesis tests
    if missing.name != "hypothesis":
        raise
    sys.exit("python -m minigrad.exercises needs hypothesis: pip install hypothesis "
             "(or pip install -e '.[test]')")


def parser():
    result = argparse.ArgumentParser(
        prog="python -m minigrad.exercises",
        description="Write the backward of a minigrad op; the engine's property tests judge it.")
    commands = result.add_subparsers(dest="command")
    commands.add_parser("list", help="list the exercises (the default)")
    begin = commands.add_parser("start", help="write the stub file of an exercise")
    begin.add_argument("name", help="the exercise, e.g. conv2d")
    begin.add_argument("file", nargs="?", help="where to write it (default ./NAME_exercise.py); "
                                               "an existing file is never overwritten")
    judge = commands.add_parser("check", help="run the exercise's property tests on your file")
    judge.add_argument("name", help="the exercise, e.g. conv2d")
    judge.add_argument("file", help="your file, as written by start and filled in")
    judge.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES,
                       help=f"hypothesis examples per check (default {DEFAULT_EXAMPLES}); "
                            "more examples, more confidence")
    judge.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                       help="where to run the checks (gpu needs CuPy and a CUDA device)")
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "check" and args.examples < 1:
        parser().error("--examples must be at least 1")
    try:
        if args.command == "start":
            path = start(args.name, args.file)
            print(f"Wrote {path}. Fill in the TODOs, then run:\n"
                  f"    python -m minigrad.exercises check {args.name} {path}")
            return 0
        if args.command == "check":
            report = check_file(args.name, args.file, args.examples, args.device)
            print(report.format())
            return 0 if report.passed else 1
    except (ExerciseError, GPUUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(listing())
    return 0


if __name__ == "__main__":
    sys.exit(main())

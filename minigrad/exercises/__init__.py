"""Exercises: write the backward of one of minigrad's ops; its property tests judge it.

    python -m minigrad.exercises                                  # the list
    python -m minigrad.exercises start conv2d                     # writes ./conv2d_exercise.py
    python -m minigrad.exercises check conv2d conv2d_exercise.py  # judges it

The stub's class subclasses the engine's own Function (the reference
solution), keeps its forward and leaves backward blank. ``check`` runs the
property tests of ``minigrad.exercises.checks`` on the student's class,
passed as a parameter: float64 finite differences (``gradcheck``), PyTorch
(``compare_with_torch``, when installed) and each op's own rules, with hints
that name the typical mistakes. Nothing in the engine is replaced or patched.
"""
from minigrad.exercises.catalog import EXERCISES, Exercise
from minigrad.exercises.commands import ExerciseError, check, check_file, load, start

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "check", "check_file", "load", "start"]

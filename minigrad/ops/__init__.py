"""The ops: one file per family, each op a Function plus a lowercase function."""

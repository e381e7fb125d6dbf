"""`python -m toolkit ...` is the `compress` command (torchrun launches it this way)."""

from toolkit.cli import main

main(prog_name="compress")

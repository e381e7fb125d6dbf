"""`python -m toolkit ...` is the `compress` command (torchrun launches it this way)."""

from toolkit.cli.main import main

main(prog_name="compress")

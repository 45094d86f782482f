"""``python -m convert`` is ``digit-convert``."""

from convert.cli import main

main(prog_name="digit-convert")

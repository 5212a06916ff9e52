"""python -m vmsim: the command line."""

from .cli import main

main()

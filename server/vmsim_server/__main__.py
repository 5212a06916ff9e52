"""python -m vmsim_server: run the server in the foreground."""

from .main import main

main()

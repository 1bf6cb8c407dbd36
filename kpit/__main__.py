"""``python -m kpit`` runs the command line."""

from kpit.cli import main

main()

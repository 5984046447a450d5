"""``python -m crisiseval.cli``: the command line."""

from crisiseval.cli import main

main()

"""`python -m harvester` is the `harvester` command."""

from .cli import main

main()

"""``python -m spyglass``: the same as the ``spyglass`` command."""

from spyglass.cli.main import main

main()

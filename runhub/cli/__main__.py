"""``python -m runhub.cli``: the same as the ``runhub`` command."""

from runhub.cli import main

main()

"""``python -m onthedot.cli``."""

from onthedot.cli import main

main()

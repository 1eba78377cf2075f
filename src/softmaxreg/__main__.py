"""``python -m softmaxreg ...`` runs the command line (same as the ``softmaxreg`` script)."""

from softmaxreg.cli import main

main()

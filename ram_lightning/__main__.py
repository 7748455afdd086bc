"""``python -m ram_lightning`` runs the same command line as ``ram``."""

from ram_lightning.cli import main

if __name__ == "__main__":
    main()

"""``python -m confiture_core.cli``: the command line without the console script's lint replay."""

from .main import main

if __name__ == "__main__":
    main()

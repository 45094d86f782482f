"""``python -m edge`` runs the ``digit-edge`` command line."""

from edge.cli import main

if __name__ == "__main__":
    main()

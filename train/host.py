"""What ``digit-train`` and ``digit-convert`` need beyond the device's packages."""

from __future__ import annotations

import importlib.util
import sys

import click

from edge.errors import EXIT_BAD_INPUT

#: Importable modules of the ``train`` extra that the device's ``.[edge]`` does not install.
HOST_MODULES = ("tensorflow", "keras", "rich")


def require_host(command: str) -> None:
    """Exit with one line where the host's packages are missing.

    Why: ``pip install .[edge]`` (the device, ``.venv-edge``) installs every console script of
    the project, so ``digit-train`` exists there and would end in a ModuleNotFoundError
    traceback instead.
    """
    missing = [name for name in HOST_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        click.echo(
            f"{command}: error: needs the host environment (pip install '.[train]'; "
            f"`make setup` makes .venv): {', '.join(missing)} not installed",
            err=True,
        )
        sys.exit(EXIT_BAD_INPUT)

"""The ``relu-convex`` command line.

Each subcommand lives in its own module of this package and registers itself
through :data:`COMMANDS`: a function ``add_parser(subparsers)`` and a function
``run(args) -> int``. Errors in user input print one line to stderr and exit
with status 2; no traceback. ``relu-convex --version`` prints the version.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ReluConvexError
from . import certify as _certify
from . import demo as _demo
from . import solve as _solve
from . import validate as _validate

__all__ = ["main", "build_parser", "package_version"]

COMMANDS = {"validate": _validate, "solve": _solve, "certify": _certify, "demo": _demo}


def package_version() -> str:
    """The installed version of relu-convex (``relu_convex.__version__`` when no metadata is installed)."""
    from importlib import metadata

    try:
        return metadata.version("relu-convex")
    except metadata.PackageNotFoundError:
        from .. import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``relu-convex`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="relu-convex",
        description="Train and verify two-layer ReLU networks by convex optimization.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 failed check, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(COMMANDS[args.command].run(args) or 0)
    except (ValueError, TypeError, ReluConvexError, OSError, ImportError) as exc:  # ImportError: a missing optional extra
        print(f"relu-convex {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"relu-convex {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

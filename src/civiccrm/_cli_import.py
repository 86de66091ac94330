"""``civiccrm import ...``: the command line of this feature."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_import_commands"]


def add_import_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add this feature's commands to the command's subparsers."""

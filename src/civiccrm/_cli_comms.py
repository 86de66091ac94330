"""``civiccrm messages ...`` (stub; being built)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_messages_commands"]


def add_messages_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm messages ...`` to the command's subparsers."""

"""``civiccrm mail ...`` (stub; being built)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_mail_commands"]


def add_mail_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm mail ...`` to the command's subparsers."""

"""``civiccrm report ...`` (stub; being built)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_report_commands"]


def add_report_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``civiccrm report ...`` to the command's subparsers."""

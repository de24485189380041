"""Logging of the runs: one format for every entry point (scripts, tables runner, reports)."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: int = logging.INFO) -> None:
    """INFO lines with time and logger name on stdout (a no-op if the root logger is set up)."""
    logging.basicConfig(format=LOG_FORMAT, level=level, stream=sys.stdout)


__all__ = ["LOG_FORMAT", "setup_logging"]

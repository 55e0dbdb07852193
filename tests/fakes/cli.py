"""The `baton` command as an operator runs it: a real process, with only PATH and HOME from
this environment plus what the test sets, so a setting can only come from the test."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

BATON = [sys.executable, "-m", "bot.cli"]


def run_baton(args: list[str], env: dict[str, str], *, timeout: float = 60,
              **kw: Any) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(BATON + args, env={**base, **env}, capture_output=True, text=True,
                          timeout=timeout, **kw)

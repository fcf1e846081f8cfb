"""What every command shares: one-line errors and early checks of its arguments.

Every ``signavatar`` subcommand (``signavatar.cli``) and every ``python -m workflows.*``
(``workflows.common.run_main``) runs inside :func:`run_command`: a failure prints one line naming the
problem and exits non-zero (2 for a usage or config mistake, 1 otherwise); ``--debug`` (anywhere on
the command line) or ``SIGNAVATAR_DEBUG=1`` shows the traceback instead. Commands call
:func:`check_out` on their output path before doing any work.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from signavatar.config import ConfigError

DEBUG_FLAG = "--debug"
MAX_MESSAGE_CHARS = 1000


class CommandError(Exception):
    """A mistake on the command line (e.g. an ``--out`` that cannot be written); the message is the
    line printed, and the exit code is 2 like argparse's usage errors."""


def check_out(path: str, suffixes: Iterable[str], flag: str = "--out") -> None:
    """Fail before any work when ``path`` cannot be written: a suffix not in ``suffixes``, an
    existing directory or read-only file, or a nearest existing ancestor (missing folders are
    created on write) that is not a writable directory. ``s3://`` paths get the suffix check only."""
    suffixes = tuple(suffixes)
    suffix = PurePosixPath(str(path)).suffix.lower()
    if suffix not in suffixes:
        raise CommandError(f"{flag} {path}: use a file name ending in {' or '.join(suffixes)}")
    if "://" in str(path) and not str(path).startswith("file://"):
        return
    out = Path(str(path).removeprefix("file://"))
    if out.is_dir():
        raise CommandError(f"{flag} {path} is a directory; give a file name")
    if out.exists() and not os.access(out, os.W_OK):
        raise CommandError(f"{flag} {path} exists and is not writable")
    parent = out.parent
    ancestor = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if ancestor is None or not ancestor.is_dir():
        raise CommandError(f"{flag} {path}: {ancestor or parent} is not a directory")
    try:  # a real probe: permissions, read-only file systems and pseudo file systems alike
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as exc:
        raise CommandError(f"{flag} {path}: directory {ancestor} is not writable ({exc.strerror})") from None


def pop_debug(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """(``--debug`` given or ``SIGNAVATAR_DEBUG`` set, argv without ``--debug``)."""
    rest = [arg for arg in argv if arg != DEBUG_FLAG]
    return len(rest) != len(argv) or os.environ.get("SIGNAVATAR_DEBUG", "") not in ("", "0"), rest


def describe(exc: BaseException) -> str:
    """One line naming the problem: the message (a Ray task error's cause's), whitespace collapsed.
    Errors about the input (bad values, files, config; and signavatar's own exception types, whose
    messages are written for the user) print their message; others also name their type."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):  # RayTaskError: the exception the task raised
        exc = cause
    message = " ".join(str(exc).split()) or type(exc).__name__
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + " ..."
    ours = type(exc).__module__.startswith("signavatar.")
    if ours or isinstance(exc, (CommandError, ConfigError, OSError, ValueError)):
        return message
    return f"{type(exc).__name__}: {message} (run with {DEBUG_FLAG} for the traceback)"


def run_command(prog: str, main: Callable[[list[str]], Any], argv: Sequence[str]) -> int:
    """``main(argv)`` as a command: its int result (anything else counts as 0) or, on an error,
    one line ``prog: problem`` on stderr and exit code 2 (usage, config) or 1."""
    debug, argv = pop_debug(argv)
    try:
        result = main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"{prog}: {describe(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, (CommandError, ConfigError)) else 1
    return result if isinstance(result, int) else 0

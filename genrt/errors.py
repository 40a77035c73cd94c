"""The exceptions genrt raises for problems a user can fix.

Every message names the file or argument, what was expected, what was found and
the remedy, on one line. The CLI prints it as `genrt: error: ...` and exits with
status 2 (bad input) or 1 (a failure during work).
"""


class GenrtError(Exception):
    """Base class: a problem the user can act on. CLI exit status 1."""

    exit_code = 1


class InputError(GenrtError, ValueError):
    """A bad argument, option or input array. CLI exit status 2."""

    exit_code = 2


class ModelError(GenrtError):
    """A model file that is missing, corrupt or not a generator. CLI exit status 2."""

    exit_code = 2


class OutputError(GenrtError):
    """A destination that cannot be written or would be overwritten. CLI exit status 2."""

    exit_code = 2


class DependencyError(GenrtError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    exit_code = 2


class VerificationError(GenrtError):
    """A file genrt made failed its checks (parity, signature, contract); nothing was kept. CLI exit status 1."""

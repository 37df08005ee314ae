"""The exceptions auditor raises; the CLI turns each into one line and an exit code.

    AuditorError
     ├── DataError        images or arrays that cannot be found or read
     ├── ModelError       a classifier file that cannot be loaded or fed
     ├── GeneratorError   a generator bundle that cannot be found or trusted
     ├── ResultsError     a results.json that is missing, malformed or from another version
     ├── OptionError      an option value outside its domain
     ├── OutputError      some outputs could not be written; the others were (``written``)
     ├── ClusterError     the Ray cluster a distributed scan runs on failed (a worker died too
     │                    often)
     └── Interrupted      Ctrl-C or a kill stopped a scan; the message says what was saved

Every message says what was expected, what was found, and what to do.
"""


class AuditorError(Exception):
    """Base class of every error auditor reports to a user."""


class DataError(AuditorError):
    """Images or arrays that cannot be found or read."""


class ModelError(AuditorError):
    """A model that cannot be loaded or fed, or that fails or returns something other than labels
    or scores."""


class GeneratorError(AuditorError):
    """A generator bundle that cannot be found or trusted."""


class ResultsError(AuditorError):
    """A results.json that is missing, malformed or from another version."""


class OptionError(AuditorError):
    """An option value outside its domain."""


class OutputError(AuditorError):
    """An output (e.g. the PDF) could not be written; ``written`` lists those that were."""

    def __init__(self, message: str, written: list | None = None) -> None:
        super().__init__(message)
        self.written = list(written or [])
        # a scan whose report outputs failed: its finished Audit (nothing is lost)
        self.audit = None


class ClusterError(AuditorError):
    """The Ray cluster of a distributed scan failed: a unit's worker died more often than it is
    retried, or the cluster went away."""


class Interrupted(AuditorError):
    """Ctrl-C or a kill during a scan; the message says where the partial results are."""


def first_line(err: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (a library's can run to pages), for one-line
    errors."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    if (len(lines) > 1
        and lines[0].startswith("The following operation failed in the TorchScript interpreter")):
        # TorchScript: a stack of frames, the error itself comes last
        return lines[-1].strip()[:limit]
    return lines[0][:limit] if lines else err.__class__.__name__

"""User-facing errors: the CLI prints them without a traceback and exits with code 2."""


class SegbenchError(Exception):
    """A mistake the user can fix; the message says what, where and what is allowed."""

    exit_code = 2


class ConfigError(SegbenchError):
    """A suite file that cannot be read or does not match the schema."""


class DatasetError(SegbenchError):
    """A data set that cannot be found, read or built (the message names the file and how to fix it)."""


class ScoreInputError(SegbenchError):
    """Label maps given to `segbench score` that cannot be compared."""


class ResultsError(SegbenchError):
    """A results folder that is missing or holds no readable run records."""


class WeightsError(SegbenchError):
    """Pretrained weights that cannot be found or loaded (e.g. offline, not in torch's cache)."""


class UsageError(SegbenchError):
    """A command-line flag whose value is not allowed (the message names the flag)."""


class RankFailure(SegbenchError):
    """A run failed in a torchrun job: the ranks cannot go on without one another, so the job stops."""

    exit_code = 1

"""Typed exceptions for the errors a user can cause (bad data, bad parameters, wrong order).

The stage CLIs print these as ``error: <message>`` and exit 1 without a traceback; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class PipelineError(Exception):
    """An expected failure of a pipeline stage; the message says what is wrong."""


class ConfigError(PipelineError):
    """config/config.yaml or params.yaml is missing, malformed or has invalid values."""


class DataError(PipelineError):
    """The raw data cannot be obtained or does not follow the UCI Cleveland schema."""


class MissingInputError(PipelineError):
    """A stage's input artifact does not exist, usually because an earlier stage did not run."""

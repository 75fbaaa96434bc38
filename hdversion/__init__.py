"""hdversion: verified backup and recovery of a DVC project's ML artifacts, on DVC and git."""

__version__ = "0.1.0"

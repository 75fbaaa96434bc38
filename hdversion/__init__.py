"""hdversion: verified backup and recovery for the Heart Disease Prediction project."""

__version__ = "0.1.0"

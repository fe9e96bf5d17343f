"""lessdata: measure and exploit redundancy in large materials datasets."""

__version__ = "0.1.0"

"""segbench: a benchmark harness for semantic segmentation architectures."""

__version__ = "0.1.0"

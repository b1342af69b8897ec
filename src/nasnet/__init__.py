"""nasnet: neural architecture search with NASNet cells."""

__version__ = "0.1.0"

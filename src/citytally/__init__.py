"""citytally: anonymous road-user analytics for cities, built so that it cannot watch individuals."""

__version__ = "0.1.0"

__all__ = ["__version__"]

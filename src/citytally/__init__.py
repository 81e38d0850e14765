"""citytally: anonymous road-user analytics for cities, built so that it cannot watch individuals."""

import os

# Nothing phones home: ONNX Runtime (1.2x and later, on Linux too) otherwise writes a device id to
# ~/.cache/Microsoft/DeveloperTools and queues a telemetry event (host, CPU, the Python path) to send to
# Microsoft. Its own switch, read once when its environment is made, so before anything here loads it;
# both names that its releases have used.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["ORT_TELEMETRY_DISABLED"] = "1"

__version__ = "0.1.0"

__all__ = ["__version__"]

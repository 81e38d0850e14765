"""The numpy array types citytally's signatures use, named once for the whole package.

They say only the element type; shapes are stated where each array is made or checked (for example
:class:`citytally.edge.detections.Detections` validates its columns in ``__post_init__``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Image", "Float32Array", "Float64Array", "Int64Array", "BoolArray"]

#: A decoded video frame (height × width × 3, BGR) or a grey copy of one (height × width).
Image = npt.NDArray[np.uint8]
#: Detector-side numbers: boxes (N × 4, x1 y1 x2 y2 in pixels), scores, model outputs.
Float32Array = npt.NDArray[np.float32]
#: Geometry and motion: points, velocities, tracker state.
Float64Array = npt.NDArray[np.float64]
#: Class ids, track ids, indices.
Int64Array = npt.NDArray[np.int64]
#: Masks over rows or pixels.
BoolArray = npt.NDArray[np.bool_]

"""Masking checks independent of the masker (NanoDet + CenterFace), shared by the preview and snapshot tests.

OpenCV's HOG people detector
(Dalal-Triggs, a linear SVM on gradient histograms) for bodies, a Haar cascade for the known face (in
test_privacy.py), and hand-marked ground truth for the vehicles. A hit in the masked frame counts as a leak
unless the same detector also fires at that place on a *control* image: the empty plaza with the masked
frame's solid patches pasted in. So hits on scenery (windows, bollards) and on the patches' own outline
(a person-sized grey block looks body-shaped to a weak detector) are explained; a person left visible
anywhere outside the patches is not. A hit is also explained when what it covers outside the patches is the
control's own picture (fewer than :data:`FOREGROUND_SHARE` of its pixels differ from it): HOG then fires on
a patch against a post or an edge in one frame and not in the other, and there is nothing there to see.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
#: The solid fill of :func:`citytally.edge.privacy.mask_regions`.
MASK_COLOUR = (40, 40, 40)

#: The vehicles in vtest.avi, marked by hand: a white van and a car, parked at the top right all video long.
#: No second vehicle model ships offline, and nothing drives through the plaza (so background subtraction
#: has nothing to find): ground truth is the independent signal here.
PARKED_VEHICLES = {"van": (650, 44, 722, 99), "car": (733, 49, 768, 93)}
#: vtest's people are 60-120 px tall; HOG hits outside this range are gradients of something else.
PERSON_HEIGHT_PX = (50.0, 150.0)
HOG_MIN_SCORE = 1.0
#: A hit that shows a person differs from the control over much of its box (a person's legs below a patch:
#: a fifth of it); one on a patch's outline, in a few pixels of noise.
FOREGROUND_SHARE = 0.03
#: How far a pixel must be from the control's to count as something the control does not show.
FOREGROUND_LEVEL = 30

_hog = cv2.HOGDescriptor()
_hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())


def hog_people(image: Image) -> list[npt.NDArray[np.float64]]:
    """HOG people boxes (x1, y1, x2, y2) with a clear score and a person's height, on a 2x copy (the
    detector's window is 128 px tall; vtest's people are half that)."""
    big = cv2.resize(image, None, fx=2, fy=2)
    rects, scores = _hog.detectMultiScale(big, winStride=(8, 8), padding=(8, 8), scale=1.1, hitThreshold=0.0)
    found = []
    for (x, y, w, h), score in zip(rects, np.ravel(scores), strict=True):
        box = np.array([x, y, x + w, y + h], np.float64) / 2
        if score >= HOG_MIN_SCORE and PERSON_HEIGHT_PX[0] <= box[3] - box[1] <= PERSON_HEIGHT_PX[1]:
            found.append(box)
    return found


def iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def unexplained(
    hits: list[npt.NDArray[np.float64]], explained: list[npt.NDArray[np.float64]]
) -> list[npt.NDArray[np.float64]]:
    return [box for box in hits if not any(iou(box, other) > 0.4 for other in explained)]


def patches(masked: Image, tolerance: int = 0) -> npt.NDArray[np.bool_]:
    """Where the masked frame is the solid mask colour (within ``tolerance``, for lossy video)."""
    off = np.abs(masked.astype(np.int16) - np.array(MASK_COLOUR, np.int16))
    return np.asarray((off <= tolerance).all(axis=2))


def control(masked: Image, empty: Image, tolerance: int = 0) -> Image:
    """The empty plaza with the masked frame's solid patches on it: what the masked frame would be if
    the masking had left nothing of anyone."""
    return np.where(patches(masked, tolerance)[..., None], masked, empty).astype(np.uint8)


def hog_leaks(
    masked: Image, empty: Image, tolerance: int = 0, drawn: Callable[[Image], Image] | None = None
) -> list[npt.NDArray[np.float64]]:
    """HOG people in ``masked`` that its control image does not explain. ``drawn`` draws on the control
    what was drawn on ``masked`` after masking (an overlay of lines and captions), so that its strokes
    explain themselves."""
    after = hog_people(masked)
    if not after:
        return []
    reference = control(masked, empty, tolerance)
    reference = drawn(reference) if drawn is not None else reference
    return [box for box in unexplained(after, hog_people(reference)) if _shows(masked, reference, box)]


def _shows(masked: Image, reference: Image, box: npt.NDArray[np.float64]) -> bool:
    """Whether ``masked`` shows something in ``box`` that the control does not."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    region = (slice(max(y1, 0), y2), slice(max(x1, 0), x2))
    differs = np.abs(masked[region].astype(np.int16) - reference[region].astype(np.int16)).max(axis=2)
    return bool((differs > FOREGROUND_LEVEL).mean() >= FOREGROUND_SHARE)

"""Video sources: files, RTSP and HTTP streams behind one interface, decoded with PyAV (FFmpeg).

Public API::

    source = open_source("rtsp://user:secret@cam-3/stream1", target_fps=10)  # or a path, or http(s)://
    source.name, source.fps, source.size  # redacted URI, native frames/s, (width, height)
    with source:
        for frame in source:          # Frame(index, pts_seconds, image: BGR uint8 HxWx3)
            ...
    # A damaged file raises SourceError *after* its good frames have been yielded; source.error keeps it.

* ``target_fps`` picks frames by timestamp (10 of a 25 fps source, say); ``None`` yields every frame.
  Every frame is still decoded (inter-frame codecs need them), only the picked ones are converted.
* A live stream (RTSP/RTMP/UDP/SRT, or HTTP without a known duration, or ``live=True``) that drops or ends
  is reopened with exponential backoff (:class:`Reconnect`); each attempt is logged. ``Frame.index`` and
  ``Frame.pts_seconds`` keep increasing across reconnects, the time by as long as the stream was away (so
  events after a reconnect are stamped when they happened, not the outage's length early). After
  ``max_attempts`` consecutive failures the iteration raises :class:`~citytally.errors.SourceError`.
  :meth:`VideoSource.close` from another thread stops it, also mid-backoff.
* :func:`open_inputs` opens what ``citytally analyze`` is given: a stream URL exactly as given, a file, or
  several files or a glob pattern read as one continuous stream (:class:`FileSequence`).
* A file that is missing raises at :func:`open_source`; a truncated or corrupt one yields every frame that
  can be decoded, then raises one :class:`SourceError` naming the file and the damage.
* Credentials in URLs never reach logs or errors: everything goes through :func:`redact_url`.

:class:`FrameListSource` is an in-memory source for unit tests of later stages.
"""

from __future__ import annotations

import glob
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import av
import av.logging
import numpy as np
import numpy.typing as npt

from citytally.errors import ConfigError, SourceError
from citytally.redaction import MASK, SECRET_QUERY_KEYS, redact_url

__all__ = [
    "request_stop",
    "Frame",
    "VideoSource",
    "Reconnect",
    "open_source",
    "open_inputs",
    "resolve_inputs",
    "is_stream_url",
    "FileSequence",
    "FrameListSource",
]

log = logging.getLogger(__name__)

_LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "rtp", "udp", "srt", "tcp"})


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``index`` counts every decoded frame of the source from 0 (picked or not), so gaps show the sampling;
    ``pts_seconds`` is its presentation time since the source's first frame; ``image`` is BGR uint8 HxWx3.
    """

    index: int
    pts_seconds: float
    image: npt.NDArray[np.uint8]


@runtime_checkable
class VideoSource(Protocol):
    """A camera or file yielding :class:`Frame` objects; iterate once, then :meth:`close`."""

    @property
    def name(self) -> str:
        """The source's URI or path with credentials redacted: safe for logs and events."""
        ...

    @property
    def fps(self) -> float:
        """Native frame rate of the source (frames/s)."""
        ...

    @property
    def size(self) -> tuple[int, int]:
        """Native frame size as (width, height) in pixels."""
        ...

    @property
    def error(self) -> SourceError | None:
        """The damage met while reading (also raised at the end of iteration), or ``None``."""
        ...

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> VideoSource: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


#: Set when the process is asked to stop (Ctrl-C, SIGTERM; see :func:`request_stop`).
_STOP_REQUESTED = threading.Event()


def request_stop() -> None:
    """Ask every source of this process to stop opening and reconnecting, from a signal handler.

    A KeyboardInterrupt raised while FFmpeg waits on the network becomes PyAV's "Immediate exit requested"
    error and is lost there: a stream being opened took Ctrl-C for a failed attempt and tried again. The
    request kept here is what an open that failed looks at."""
    _STOP_REQUESTED.set()


def _stop_requested() -> None:
    if _STOP_REQUESTED.is_set():
        raise KeyboardInterrupt


@dataclass(frozen=True)
class Reconnect:
    """Exponential backoff for live streams: wait ``initial_delay_s``, then × ``factor`` up to
    ``max_delay_s``; give up after ``max_attempts`` consecutive failed attempts (0: never reconnect).
    ``at_start``: a stream URL that cannot be opened at first is tried again the same way (a service
    started while its camera reboots), rather than refused at once."""

    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    factor: float = 2.0
    max_attempts: int = 10
    at_start: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay_s <= self.max_delay_s <= 3600:
            raise ConfigError(
                f"reconnect: need 0 < initial_delay_s ({self.initial_delay_s}) <= max_delay_s "
                f"({self.max_delay_s}) <= 3600"
            )
        if not 1.0 <= self.factor <= 10.0:
            raise ConfigError(f"reconnect: factor must be in 1..10, got {self.factor}")
        if not 0 <= self.max_attempts <= 1_000_000:
            raise ConfigError(f"reconnect: max_attempts must be in 0..1000000, got {self.max_attempts}")

    def delays(self) -> Iterator[float]:
        """The wait before each attempt, ``max_attempts`` values."""
        delay = self.initial_delay_s
        for _ in range(self.max_attempts):
            yield delay
            delay = min(delay * self.factor, self.max_delay_s)


def _scrub(text: str, uri: str) -> str:
    """Remove ``uri``'s secrets from a message that may quote it (FFmpeg errors do)."""
    text = text.replace(uri, redact_url(uri))
    parts = urlsplit(uri)
    for secret in (parts.password, parts.username):
        if secret:
            text = text.replace(secret, MASK)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in SECRET_QUERY_KEYS and value:
            text = text.replace(value, MASK)
    return re.sub(r"\s+", " ", text).strip()


def open_source(
    uri: str | Path,
    target_fps: float | None = None,
    *,
    live: bool | None = None,
    reconnect: Reconnect | None = None,
    timeout_s: float = 10.0,
) -> VideoSource:
    """Open a video file path or an ``rtsp://``, ``http(s)://`` (or other FFmpeg) URL.

    ``target_fps``: analyse at this rate by timestamp (``None``: every frame). ``live``: reconnect when
    the stream drops (``None``: decide from the scheme, and for HTTP from whether a duration is known).
    ``timeout_s``: give up opening or reading after this many seconds of silence.
    Raises :class:`SourceError` (one line, credentials redacted) if the source cannot be opened.
    """
    if target_fps is not None and not 0 < target_fps <= 1000:
        raise ConfigError(f"target_fps must be in (0, 1000], got {target_fps}")
    if not 0 < timeout_s <= 600:
        raise ConfigError(f"timeout_s must be in (0, 600], got {timeout_s}")
    return _AvSource(str(uri), target_fps, live, reconnect or Reconnect(), timeout_s)


def is_stream_url(text: str) -> bool:
    """Whether ``text`` names a stream (``rtsp://``, ``http(s)://``, ...) rather than a file path."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def resolve_inputs(inputs: Sequence[str | Path]) -> list[str]:
    """What ``citytally analyze`` was given, as a list of sources to read one after another.

    A stream URL is kept exactly as given (never treated as a path) and must be the only input. A path has
    ``~`` expanded; one with glob characters that is not itself a file is expanded to its matches, sorted
    by name (cameras number their files so that name order is time order). Raises :class:`SourceError`
    for a pattern that matches nothing, :class:`ConfigError` for no input or a URL among other inputs.
    """
    if not inputs:
        raise ConfigError("no video given: name a file, several files, a glob pattern or a stream URL")
    resolved: list[str] = []
    for given in inputs:
        text = str(given)
        if is_stream_url(text):
            if len(inputs) > 1:
                raise ConfigError(f"{redact_url(text)}: a stream URL must be the only input")
            return [text]
        path = Path(text).expanduser()
        if glob.has_magic(str(path)) and not path.exists():
            matches = sorted(glob.glob(str(path)))
            if not matches:
                raise SourceError(f"{text}: no file matches this pattern")
            resolved += matches
        else:
            resolved.append(str(path))
    return resolved


def _ffmpeg_words(exc: BaseException) -> str:
    """What FFmpeg said, without PyAV's "[Errno 1094995529]" and the file name the message starts with
    already, and with the last line FFmpeg logged about it ("moov atom not found") where PyAV kept one."""
    said = getattr(exc, "strerror", None)
    if not said:
        return str(exc)
    log = getattr(exc, "log", None)  # (level, origin, message)
    if isinstance(log, tuple) and len(log) == 3 and str(log[2]).strip():
        said += f"; {str(log[2]).strip()}"
    return str(said)


def _not_a_file(path: str) -> str:
    """Why ``path`` is no video file: what it is, or that nothing is there (and where a relative path was
    looked for: a service's current folder is often not the config's)."""
    if Path(path).exists():
        return "is not a file"
    if Path(path).is_absolute():
        return "no such file"
    return f"no such file (relative to the current folder, {Path.cwd()})"


def open_inputs(
    inputs: Sequence[str | Path], target_fps: float | None = None, reconnect: Reconnect | None = None
) -> VideoSource:
    """Open what :func:`resolve_inputs` resolves: one source, or consecutive files read as one stream."""
    uris = resolve_inputs(inputs)
    if len(uris) == 1:
        return open_source(uris[0], target_fps, reconnect=reconnect)
    return FileSequence(uris, target_fps)


def _open_file(path: str, target_fps: float | None) -> _AvSource:
    return _AvSource(path, target_fps, False, Reconnect(), 10.0)


class FileSequence:
    """Consecutive files of one camera (a recorder that writes 10 s files, say) read as one stream.

    Timestamps and frame indices continue from each file into the next (a file starts one frame period
    after the previous one's last frame), so tracks, crossings and intervals run on across the boundaries.
    Every file must exist before reading starts. A damaged file yields its good frames and reading goes on
    with the next; a file whose frame size differs from the first file's is skipped (count lines are in
    the first file's pixels). Either way iteration ends with one :class:`SourceError` naming each problem.
    """

    def __init__(self, paths: Sequence[str], target_fps: float | None = None) -> None:
        if len(paths) < 2:
            raise ConfigError("a file sequence needs at least two files")
        for path in paths:
            if not Path(path).is_file():
                raise SourceError(f"{path}: {_not_a_file(path)}")
        self._paths = list(paths)
        self._target_fps = target_fps
        # The first file that opens sets the rate and the size; files before it that do not are reported
        # with the others' problems at the end, as a damaged file later on is.
        self._unopened: list[str] = []
        first: _AvSource | None = None
        for path in paths:
            try:
                first = _open_file(path, target_fps)
                break
            except SourceError as exc:
                self._unopened.append(str(exc))
        if first is None:
            raise SourceError("; ".join(self._unopened))
        self._first = len(self._unopened)
        self._current: _AvSource | None = first
        self._fps, self._size = first.fps, first.size
        self._stop = threading.Event()
        self._error: SourceError | None = None

    @property
    def paths(self) -> list[str]:
        """The files, in reading order."""
        return list(self._paths)

    @property
    def name(self) -> str:
        return f"{self._paths[0]} … {Path(self._paths[-1]).name} ({len(self._paths)} files)"

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def error(self) -> SourceError | None:
        return self._error

    def __iter__(self) -> Iterator[Frame]:
        problems: list[str] = list(self._unopened)
        start: tuple[int, float] = (0, 0.0)
        sampler: _RateSampler | None = None
        for number, path in enumerate(self._paths):
            if number < self._first:
                continue
            if self._stop.is_set():
                break
            source = self._current if number == self._first else self._open_next(path, problems)
            self._current = source
            if source is None:
                continue
            source.start, source.sampler = start, sampler
            try:
                yield from source
            except SourceError as exc:
                problems.append(str(exc))  # its good frames are in; the next file may be whole
            finally:
                source.close()
            start, sampler = source.end, source.sampler
        if problems:
            self._error = SourceError("; ".join(problems))
            raise self._error

    def _open_next(self, path: str, problems: list[str]) -> _AvSource | None:
        try:
            source = _open_file(path, self._target_fps)
        except SourceError as exc:
            problems.append(str(exc))
            return None
        if source.size != self._size:
            problems.append(
                f"{path}: frame size {source.size[0]}x{source.size[1]} differs from the first file's "
                f"{self._size[0]}x{self._size[1]}; skipped"
            )
            source.close()
            return None
        return source

    def close(self) -> None:
        """Stop reading; safe from another thread."""
        self._stop.set()
        if self._current is not None:
            self._current.close()

    def __enter__(self) -> FileSequence:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _RateSampler:
    """Picks frames by timestamp so that at most ``target_fps`` come out per second, evenly spread."""

    def __init__(self, target_fps: float | None, native_fps: float) -> None:
        self._period = 0.0 if target_fps is None or target_fps >= native_fps else 1.0 / target_fps
        # Half a native frame of slack so a 10-of-25 pick is steady despite timestamp rounding.
        self._slack = 0.5 / native_fps if native_fps > 0 else 0.0
        self._due: float | None = None

    def keep(self, pts_seconds: float) -> bool:
        if self._period == 0.0:
            return True
        if self._due is None or pts_seconds >= self._due - self._slack:
            base = pts_seconds if self._due is None else self._due
            self._due = base + self._period
            if self._due < pts_seconds:  # after a gap in the stream, restart the grid
                self._due = pts_seconds + self._period
            return True
        return False


def _ensure_libav_errors_logged() -> None:
    # PyAV keeps FFmpeg silent by default; damage in a file is only reported through its log.
    level = av.logging.get_level()
    if level is None or level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)


class _AvSource:
    """:class:`VideoSource` over PyAV."""

    def __init__(
        self, uri: str, target_fps: float | None, live: bool | None, reconnect: Reconnect, timeout_s: float
    ) -> None:
        self._uri = uri
        self._name = redact_url(uri)
        self._target_fps = target_fps
        self._reconnect = reconnect
        self._timeout_s = timeout_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._iterating = False
        self._error: SourceError | None = None
        # Where this source's clock starts and where it ended: a file sequence continues one from the other.
        self.start: tuple[int, float] = (0, 0.0)
        self.end: tuple[int, float] = (0, 0.0)
        self.sampler: _RateSampler | None = None
        scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
        self._is_url = bool(scheme)
        if not self._is_url and not Path(uri).is_file():
            raise SourceError(f"{self._name}: {_not_a_file(uri)}")
        if not self._is_url and Path(uri).stat().st_size == 0:
            raise SourceError(f"{self._name}: is empty (0 bytes)")
        _ensure_libav_errors_logged()
        self._container = self._open_first() if self._is_url and reconnect.at_start else self._open()
        stream = self._container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        self._fps = float(rate) if rate else 0.0
        self._size = (int(stream.codec_context.width), int(stream.codec_context.height))
        self._declared_frames = int(stream.frames or 0)
        if live is None:
            live = scheme in _LIVE_SCHEMES or (
                scheme in ("http", "https") and self._container.duration is None
            )
        self._live = live

    @property
    def name(self) -> str:
        return self._name

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def error(self) -> SourceError | None:
        return self._error

    @property
    def live(self) -> bool:
        """Whether a drop is reconnected rather than reported as the end of the source."""
        return self._live

    def close(self) -> None:
        """Stop reading; safe from another thread (the reading thread then releases the stream)."""
        self._stop.set()
        with self._lock:
            if not self._iterating:
                self._close_container()

    def _close_container(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            container.close()

    def __enter__(self) -> _AvSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _open_first(self) -> Any:
        """The first open of a stream whose camera may be down: tried with the reconnect backoff."""
        for number, delay in enumerate(self._reconnect.delays(), start=1):
            try:
                return self._open()
            except SourceError as exc:
                log.warning("%s (attempt %d); trying again in %.0f s", exc, number, delay)
            if self._stop.wait(delay):
                break
            _stop_requested()
        return self._open()

    def _open(self) -> Any:
        options = {"rtsp_transport": "tcp"} if self._uri.startswith("rtsp") else {}
        _stop_requested()
        # FFmpeg's own log lines may quote the URL with its credentials: capture them, never pass them on raw.
        with av.logging.Capture() as logs:
            began = time.monotonic()
            try:
                container = av.open(self._uri, options=options, timeout=(self._timeout_s, self._timeout_s))
            except (av.error.FFmpegError, OSError) as exc:
                _stop_requested()  # a Ctrl-C that PyAV turned into "Immediate exit requested"
                # PyAV's timeout is "Immediate exit requested" to FFmpeg, and an RTSP server that says
                # nothing "Invalid data found when processing input": whatever ends it then is the timeout
                if "Immediate exit requested" in str(exc) or time.monotonic() - began >= self._timeout_s:
                    why = f"no answer within {self._timeout_s:g} s"
                else:
                    why = _scrub(_ffmpeg_words(exc), self._uri)
                raise SourceError(f"{self._name}: cannot open: {why}") from None
        for level, origin, message in logs:
            if level <= av.logging.ERROR:
                log.debug("%s: %s: %s", self._name, origin, _scrub(message, self._uri))
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self._name}: has no video stream")
        stream = container.streams.video[0]
        # Slice threads only: with frame threads, freeing the decoder waits for them, and one of them can
        # be waiting for the GIL to log a decode error through PyAV, so closing a live stream mid-way
        # could hang for good (PyAV-Org/PyAV#909). Slice threads work only inside a decode call.
        stream.thread_type = "SLICE"
        return container

    def __iter__(self) -> Iterator[Frame]:
        with self._lock:
            if self._iterating or self._stop.is_set():
                raise SourceError(f"{self._name}: already being read or closed")
            self._iterating = True
        try:
            yield from self._frames()
        finally:
            with self._lock:
                self._iterating = False
                self._close_container()
        if self._error is not None:
            raise self._error

    def _frames(self) -> Iterator[Frame]:
        sampler = self.sampler = self.sampler or _RateSampler(self._target_fps, self._fps)
        index, pts_offset = self.start
        attempts = iter(self._reconnect.delays())
        last_frame_at: float | None = None  # monotonic time the last frame came, to measure an outage
        while not self._stop.is_set():
            container = self._container or self._reopen(attempts)
            if container is None:
                return
            if last_frame_at is not None:
                # The stream was away: its clock goes on by the time that passed (the monotonic clock's,
                # which a step of the system clock does not move), so what is seen after a reconnect is
                # stamped when it happened, not as many seconds early as the outage lasted.
                away = max(0.0, time.monotonic() - last_frame_at)
                pts_offset += away
                log.warning("%s: the stream was away %.1f s; its time goes on from there", self._name, away)
            reading = _Reading(container, self._uri, index, pts_offset, self._fps, self._timeout_s)
            for frame_index, pts, av_frame in reading.frames():
                last_frame_at = time.monotonic()
                if frame_index == reading.first_index:
                    attempts = iter(self._reconnect.delays())  # a working connection resets the budget
                if sampler.keep(pts):
                    yield Frame(frame_index, pts, av_frame.to_ndarray(format="bgr24"))
                if self._stop.is_set():
                    return
            index, pts_offset = reading.next_index, reading.next_pts
            self.end = (index, pts_offset)
            self._close_container()
            if not self._live:
                self._finish(reading)
                return
            problem = reading.ended_by or reading.problem or "stream ended"
            log.warning("%s: live stream lost after frame %d (%s); reconnecting", self._name, index, problem)

    def _reopen(self, attempts: Iterator[float]) -> Any:
        """Open the stream again after waiting out the backoff; ``None`` when stopped or out of attempts."""
        last = "no attempt allowed"
        for number, delay in enumerate(attempts, start=1):
            most = self._reconnect.max_attempts
            of = f"/{most}" if most < 1_000_000 else ""  # an edge's stream is waited for without end
            log.warning("%s: reconnect attempt %d%s in %.2f s", self._name, number, of, delay)
            if self._stop.wait(delay):
                return None
            _stop_requested()
            try:
                self._container = self._open()
            except SourceError as exc:
                last = str(exc).removeprefix(f"{self._name}: ")
                log.warning("%s: reconnect attempt %d failed: %s", self._name, number, last)
                continue
            log.warning("%s: reconnected on attempt %d", self._name, number)
            return self._container
        self._error = SourceError(
            f"{self._name}: live stream lost; gave up after {self._reconnect.max_attempts} reconnect "
            f"attempts ({last})"
        )
        return None

    def _finish(self, reading: _Reading) -> None:
        """Turn what went wrong in a file (or a stream that is not live) into the source's error."""
        if self._stop.is_set():
            return
        problems = []
        # Frames an edit list puts before time 0 (or after the end) are in the sample table but players
        # never show them, and neither does FFmpeg: they are not missing.
        declared = self._declared_frames - reading.discarded
        if declared > 0 and reading.decoded < declared:
            problems.append(f"only {reading.decoded} of {declared} frames decodable (truncated or damaged)")
        if reading.problem is not None:
            problems.append(reading.problem)
        if problems:
            self._error = SourceError(f"{self._name}: {'; '.join(problems)}")
            log.debug("%s", self._error)  # raised to the caller, which says it (in one line)


class _Reading:
    """One pass over an open container: yields decoded frames and notes the first damage met."""

    def __init__(
        self, container: Any, uri: str, first_index: int, pts_offset: float, fps: float, timeout_s: float
    ) -> None:
        self._container = container
        self._uri = uri
        self._timeout_s = timeout_s
        self._frame_s = 1.0 / fps if fps > 0 else 0.0
        self.first_index = first_index
        self.next_index = first_index
        self.next_pts = pts_offset
        self._pts_offset = pts_offset
        self._t0: float | None = None
        self._last_pts = pts_offset
        self.decoded = 0
        self.discarded = 0  # packets the container's edit list hides (not shown, so not expected)
        self.problem: str | None = None
        self.ended_by: str | None = None  # the read error that ended the pass (a lost stream's why)

    def _note(self, problem: str) -> None:
        if self.problem is None:
            self.problem = _scrub(problem, self._uri)

    def frames(self) -> Iterator[tuple[int, float, Any]]:
        stream = self._container.streams.video[0]
        packets = self._container.demux(stream)
        while True:
            with av.logging.Capture() as logs:
                try:
                    packet = next(packets)
                    self.discarded += bool(packet.is_discard)
                    decoded = packet.decode()
                except StopIteration:
                    break
                except (av.error.FFmpegError, OSError) as exc:
                    # Demuxing cannot go on after this; decoding errors of one packet can (next branch).
                    # PyAV's read timeout reaches here as FFmpeg's "Immediate exit requested".
                    stalled = "Immediate exit requested" in str(exc)
                    why = f"no data within {self._timeout_s:g} s" if stalled else str(exc)
                    self._note(f"read error after frame {self.next_index}: {why}")
                    if isinstance(exc, av.error.EOFError) or not isinstance(exc, av.error.InvalidDataError):
                        self.ended_by = _scrub(f"read error after frame {self.next_index}: {why}", self._uri)
                        break
                    decoded = []
            for message in logs:
                if message[0] <= av.logging.ERROR:
                    self._note(f"corrupt data near frame {self.next_index}: {message[1]}: {message[2]}")
            for av_frame in decoded:
                yield self.next_index, self._pts(av_frame), av_frame
                self.decoded += 1
                self.next_index += 1

    def _pts(self, av_frame: Any) -> float:
        t = av_frame.time
        if t is None:
            pts = self.next_pts
        else:
            if self._t0 is None:
                # Anchor the stream's clock after any frames that came without a time (a live RTSP
                # stream's first frame often has none), so the first timed frame does not repeat theirs.
                self._t0 = float(t) - (self.next_pts - self._pts_offset)
            pts = self._pts_offset + float(t) - self._t0
            if self.decoded and pts <= self._last_pts:
                pts = self.next_pts  # a stream clock that stands still or steps back: keep time moving
        self._last_pts = pts
        self.next_pts = max(self.next_pts, pts + self._frame_s)
        return pts


class FrameListSource:
    """In-memory :class:`VideoSource` over given images (for unit tests of later stages)."""

    def __init__(
        self, images: Sequence[npt.NDArray[np.uint8]], fps: float = 10.0, name: str = "memory"
    ) -> None:
        if not images:
            raise SourceError(f"{name}: no frames given")
        self._images = images
        self._fps = fps
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def size(self) -> tuple[int, int]:
        height, width = self._images[0].shape[:2]
        return int(width), int(height)

    @property
    def error(self) -> SourceError | None:
        return None

    def __iter__(self) -> Iterator[Frame]:
        for index, image in enumerate(self._images):
            yield Frame(index, index / self._fps, image)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> FrameListSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

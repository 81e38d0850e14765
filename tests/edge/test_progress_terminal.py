"""The progress bar as a person sees it: a real process with its stderr on a pseudo-terminal, its output
drawn by a terminal emulator (pyte), the screen read at the end.

``citytally edge`` on a file showed no bar (its log lines share stderr), and where ``citytally analyze``
showed one, a log line written while it was drawn went into the bar's line (the logging handler wrote to
the terminal itself, behind rich's back): the screen read ``... 4/10 frames 0:00:01WARNING ...``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte
import pytest

REPO = Path(__file__).resolve().parents[2]
CITYTALLY = Path(sys.executable).with_name("citytally")
COLUMNS, ROWS = 160, 60


def on_a_terminal(command: list[str], timeout: float = 300) -> tuple[list[str], str]:
    """Run ``command`` with stderr on a terminal; the screen's non-empty lines at the end, and stdout."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, "TERM": "xterm", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    drawn, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the other end closed
                    break
                if not chunk:
                    break
                drawn += chunk
            elif process.poll() is not None:
                break
        out, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.communicate()
    stdout = out.decode()
    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.ByteStream(screen).feed(drawn.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return [line.rstrip() for line in screen.display if line.strip()], stdout


def test_a_log_line_written_while_the_bar_is_drawn_gets_a_line_of_its_own(tmp_path: Path) -> None:
    script = tmp_path / "bar.py"
    script.write_text(
        "import logging, time\n"
        "from citytally.edge.pipeline import _progress\n"
        "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')\n"
        "with _progress(True, 10, 'clip.mp4') as advance:\n"
        "    for i in range(10):\n"
        "        advance(1)\n"
        "        if i == 4:\n"
        "            logging.getLogger('citytally.test').warning('the broker is out of reach; retrying')\n"
        "        time.sleep(0.15)\n"
    )
    lines, _ = on_a_terminal([sys.executable, str(script)], timeout=60)
    assert "WARNING citytally.test: the broker is out of reach; retrying" in lines, lines
    bars = [line for line in lines if line.startswith("analysing clip.mp4")]
    assert len(bars) == 1 and "10/10 frames" in bars[0], lines


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_an_edge_on_a_file_shows_its_progress_on_a_terminal(vtest_path: Path, tmp_path: Path) -> None:
    """The frames of the file counted as they go (a stream, or a service's log, has none), its log lines
    whole above the bar; ``--no-progress`` leaves it out."""
    command = [
        str(CITYTALLY),
        "edge",
        "-c",
        str(REPO / "examples" / "vtest.toml"),
        "--video",
        str(vtest_path),
    ]
    command += ["--fps", "5", "--broker", "127.0.0.1:1", "--outbox", str(tmp_path / "outbox.sqlite3")]
    lines, stdout = on_a_terminal(command)
    bars = [line for line in lines if line.startswith("analysing vtest.avi")]
    assert len(bars) == 1, lines
    frames = int(stdout.split("analysed ")[1].split(" frames")[0])
    assert f"{frames}/{frames} frames" in bars[0], (bars, stdout)
    assert any("cannot reach the broker 127.0.0.1:1" in line and " ERROR " in line for line in lines), lines
    quiet, _ = on_a_terminal([*command, "--no-progress"])
    assert not [line for line in quiet if "analysing" in line], quiet

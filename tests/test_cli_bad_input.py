"""Bad input to the commands, run as a user runs them (subprocesses of the installed `citytally`): one
line naming what is wrong and where, exit status 2, never a traceback. Each case was a traceback (or an
unclear line) before; none reaches a broker, a camera or the network."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "vtest.toml"
CITYTALLY = Path(sys.executable).with_name("citytally")
UNREACHABLE = "127.0.0.1:1"  # no broker: an edge that got past its checks would only retry


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CITYTALLY), *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def analyze(video: str, *extra: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run("analyze", video, "-c", str(CONFIG), "-o", "out", "--no-progress", *extra, cwd=cwd)


def the_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("citytally: error:")]
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_an_edge_whose_metrics_port_is_taken_says_so(tmp_path: Path, busy_port: int) -> None:
    done = run(
        "edge", "-c", str(CONFIG), "--broker", UNREACHABLE, "--metrics-port", str(busy_port), cwd=tmp_path
    )
    assert f"--metrics-port {busy_port}: Address already in use" in the_line(done)


def test_an_edge_metrics_port_out_of_range_is_refused(tmp_path: Path) -> None:
    done = run("edge", "-c", str(CONFIG), "--broker", UNREACHABLE, "--metrics-port", "99999", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value for '--metrics-port'" in done.stderr and "65535" in done.stderr


def test_a_bad_topic_prefix_is_named(tmp_path: Path) -> None:
    done = run("edge", "-c", str(CONFIG), "--broker", UNREACHABLE, "--topic-prefix", "a/#", cwd=tmp_path)
    assert "--topic-prefix:" in the_line(done)


def test_a_preview_time_before_the_video_is_named(tmp_path: Path) -> None:
    done = analyze("any.avi", "--preview", "p.png", "--preview-at", "-5", cwd=tmp_path)
    assert "--preview-at -5: must be 0 to 86400 seconds into the video" in the_line(done)


def test_a_preview_video_that_cannot_be_written_is_said_before_the_analysis(
    vtest_path: Path, tmp_path: Path
) -> None:
    done = analyze(str(vtest_path), "--preview-video", "/proc/p.mp4", cwd=tmp_path)
    assert "--preview-video /proc/p.mp4: cannot be written" in the_line(done)


def test_a_demo_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    done = run("demo", "-o", "afile", "--no-serve", cwd=tmp_path)
    assert "--out afile: not a folder it can use" in the_line(done)


def test_a_checkpoint_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "hub.sqlite3"
    env = {**os.environ, "HOME": str(tmp_path), "CITYTALLY_DATABASE_URL": f"sqlite:///{store}"}
    assert run("token", "create", "--role", "admin", cwd=tmp_path, env=env).returncode == 0
    (tmp_path / "clip.bin").write_bytes(b"\xff\xfe\x00binary")
    env["CITYTALLY_AUDIT_KEY"] = "k" * 40
    done = run("audit", "verify", "--checkpoints", "clip.bin", cwd=tmp_path, env=env)
    assert "clip.bin: not a checkpoint file (UnicodeDecodeError" in the_line(done)


def test_listing_the_tokens_of_a_store_that_is_not_there_does_not_make_one(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "hub.sqlite3"
    env = {**os.environ, "HOME": str(tmp_path), "CITYTALLY_DATABASE_URL": f"sqlite:///{missing}"}
    for args in (("token", "list"), ("token", "revoke", "tok_x"), ("retention", "run")):
        assert "no hub store at" in the_line(run(*args, cwd=tmp_path, env=env)), args
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("label", "said"),
    [
        ("desk\n[source]\nurl = 'rtsp://elsewhere'", "one line of text"),
        ("\x1b[2Jcleared", "one line of text"),
        ("x" * 201, "201 characters, at most 200"),
    ],
)
def test_a_token_label_the_api_refuses_is_refused_on_the_command_line(
    tmp_path: Path, label: str, said: str
) -> None:
    store = tmp_path / "hub.sqlite3"
    env = {**os.environ, "HOME": str(tmp_path), "CITYTALLY_DATABASE_URL": f"sqlite:///{store}"}
    create = ("token", "create", "--role", "viewer", "--label")
    assert run(*create, "desk", cwd=tmp_path, env=env).returncode == 0
    done = run(*create, label, cwd=tmp_path, env=env)
    assert "token label: " in the_line(done) and said in the_line(done)
    assert "ct_" not in done.stdout  # no secret printed, so none made
    listed = run("token", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1, listed.stdout


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [("--fps", "0", "--fps must be in"), ("--video", "nosuch.mp4", "nosuch.mp4: no such file")],
)
def test_an_edge_checks_its_options_before_it_makes_an_outbox(
    tmp_path: Path, option: str, value: str, said: str
) -> None:
    done = run("edge", "-c", str(CONFIG), "--broker", UNREACHABLE, option, value, cwd=tmp_path)
    assert said in the_line(done)
    assert "outbox" not in done.stderr  # no outbox made, no broker tried
    assert not list(tmp_path.glob("citytally-outbox-*"))


def test_a_preview_asked_for_past_the_end_of_the_video_is_said(tmp_path: Path) -> None:
    import av
    import numpy as np

    clip = tmp_path / "grey.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for _ in range(10):  # one second
            frame = av.VideoFrame.from_ndarray(np.full((576, 768, 3), 120, np.uint8), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    done = analyze(str(clip), "--preview", "p.png", "--preview-at", "60", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "no frame at or after 60 s, the preview's time: the video ended before it; p.png not written"
        in done.stderr
    )
    assert not (tmp_path / "p.png").exists()


def test_a_signals_bench_of_no_known_version_is_refused(tmp_path: Path) -> None:
    done = run(
        "signals", "bench", "--data", str(tmp_path), "--versions", "bogus", cwd=tmp_path
    )  # ran nothing, exit 0
    assert "--versions: bogus is not 1.9.1 or current" in the_line(done)


def test_a_video_of_another_size_than_the_config_was_drawn_on_is_refused(tmp_path: Path) -> None:
    """vtest.toml's lines and zones are in a 768x576 picture's pixels: on Market Street's 544x360 the run
    counted nothing at a line and a zone beyond the picture and reported those zeros as data, exit 0."""
    clip = str(REPO / "tests" / "data" / "market_street.mp4")
    said = the_line(analyze(clip, cwd=tmp_path))
    assert "is 544x360, but [source] frame_size is 768x576" in said
    unsized = tmp_path / "unsized.toml"  # a config without frame_size: its geometry is checked
    kept = [line for line in CONFIG.read_text().splitlines() if "frame_size" not in line]
    unsized.write_text("\n".join(kept))
    done = run("analyze", clip, "-c", str(unsized), "-o", "out2", "--no-progress", cwd=tmp_path)
    assert "lines[path-east] [560.0, 140.0]" in the_line(done) and "lie outside it" in the_line(done)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_an_outbox_whose_folder_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    outbox = tmp_path / "a-file" / "edge" / "outbox.sqlite3"
    done = run("edge", "-c", str(CONFIG), "--broker", UNREACHABLE, "--outbox", str(outbox), cwd=tmp_path)
    assert f"{outbox}: cannot make the outbox's folder: Not a directory" in the_line(done)


def test_a_second_edge_on_an_outbox_in_use_is_refused(tmp_path: Path) -> None:
    """Two edges on one camera's config shared its outbox file and its broker client id, and took the
    connection from each other every second ("lost the broker (Unspecified error)", twice a second)."""
    from citytally.transport.mqtt import MqttSettings
    from citytally.transport.outbox import Outbox

    outbox = tmp_path / "outbox.sqlite3"
    running = Outbox(outbox, MqttSettings(host="127.0.0.1", port=1))  # the first edge's, not started
    try:
        done = run("edge", "-c", str(CONFIG), "--broker", UNREACHABLE, "--outbox", str(outbox), cwd=tmp_path)
        said = the_line(done)
        assert f"{outbox}: the outbox is in use by another edge (pid {os.getpid()})" in said, said
    finally:
        running.close()
    again = Outbox(outbox, MqttSettings(host="127.0.0.1", port=1))  # the first one stopped: free again
    again.close()


def test_a_disk_that_refuses_the_events_is_one_line_and_leaves_whole_lines(
    vtest_path: Path, tmp_path: Path
) -> None:
    """A full disk while ``analyze`` writes (here a file size limit, as the kernel gives one): a 91-line
    traceback, no summary, and a last line of events.jsonl cut off mid-JSON. Now: one line, exit 2, the
    analysis run to its end, whole lines in the file and the summary saying what was refused."""
    import resource
    import signal

    def limited() -> None:  # the child's files may not grow past 4 kB; writing on fails (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    config = tmp_path / "vtest.toml"  # 5-second intervals: events well past 4 kB in the 80 s video
    config.write_text(CONFIG.read_text().replace("interval_seconds = 60", "interval_seconds = 5", 1))
    command = [str(CITYTALLY), "analyze", str(vtest_path), "-c", str(config), "-o", "out", "--fps", "2"]
    done = subprocess.run(
        [*command, "--no-progress"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        preexec_fn=limited,
    )  # fmt: skip
    said = the_line(done)
    assert "events.jsonl: cannot write the events: File too large" in said
    lines = (tmp_path / "out" / "events.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["v"] == 1 for line in lines)  # whole lines only
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["complete"] is False and "cannot write the events" in summary["error"]


def test_an_empty_video_file_is_said_to_be_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert "empty.mp4: is empty (0 bytes)" in the_line(analyze("empty.mp4", cwd=tmp_path))  # not "moov atom"


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_stream_that_never_answers_is_said_to_time_out(tmp_path: Path, scheme: str) -> None:
    """Not FFmpeg's "Immediate exit requested" (HTTP), nor its "Invalid data found when processing input"
    (RTSP, whose timeout FFmpeg reports so)."""
    with socket.socket() as silent:  # takes the connection, says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"{scheme}://127.0.0.1:{silent.getsockname()[1]}/live"
        said = the_line(analyze(url, cwd=tmp_path))
    assert said.endswith("cannot open: no answer within 10 s"), said


def test_a_closed_zone_polygon_is_named_for_what_it_is(tmp_path: Path) -> None:
    """A zone written as GeoJSON writes a ring, its last point the first again: its edges cross nowhere,
    yet it was refused as "polygon edges cross each other"."""
    ring = "polygon = [[240, 200], [540, 175], [540, 405], [330, 315]]"
    assert ring in CONFIG.read_text()
    config = tmp_path / "camera.toml"
    config.write_text(CONFIG.read_text().replace(ring, ring[:-1] + ", [240, 200]]", 1))
    done = run("analyze", "nosuch.mp4", "-c", str(config), "-o", "out", "--no-progress", cwd=tmp_path)
    assert done.returncode == 2 and "the last point repeats the first" in done.stderr, done.stderr
    assert "cross" not in done.stderr


def test_a_camera_config_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    config = tmp_path / "camera.toml"
    config.write_bytes(b"\xef\xbb\xbf" + CONFIG.read_bytes())  # as Windows Notepad saves UTF-8
    assert "nosuch.mp4: no such file" in the_line(
        run("analyze", "nosuch.mp4", "-c", str(config), "-o", "out", "--no-progress", cwd=tmp_path)
    )  # past the config, which it read: not "Invalid statement (at line 1, column 1)"


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        # a calibration in millimetres: every speed was thousands of km/h, each dropped without a word
        (
            "ground_points_m = [[0, 0], [6, 0], [6, 10], [0, 10]]",
            "ground_points_m = [[0, 0], [6000, 0], [6000, 10000], [0, 10000]]",
            "are in metres (not millimetres or centimetres)",
        ),
        # a line in fractions of the frame: 0.27 px long, counting nothing
        (
            "p1 = [200, 175]\np2 = [200, 330]",
            "p1 = [0.26, 0.30]\np2 = [0.26, 0.57]",
            "px long: p1 and p2 are in pixels of the picture",
        ),
    ],
)
def test_units_mistaken_in_a_camera_config_are_named(tmp_path: Path, old: str, new: str, said: str) -> None:
    text = CONFIG.read_text()
    assert old in text
    config = tmp_path / "camera.toml"
    config.write_text(text.replace(old, new, 1))
    done = run("analyze", "nosuch.mp4", "-c", str(config), "-o", "out", "--no-progress", cwd=tmp_path)
    assert done.returncode == 2 and said in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("hub:S3cretPW-xyz@127.0.0.1", "database URL '***@127.0.0.1' is not a URL"),  # the scheme left out
        ("postgresql://hub:S3c@tPW@127.0.0.1/citytally", "holds an '@'; write it as %40"),
    ],
)
def test_a_database_url_with_a_password_it_cannot_read_is_refused_without_it(
    tmp_path: Path, url: str, said: str
) -> None:
    """A database URL without its scheme was echoed whole, password and all; one whose password holds an
    unencoded "@" had the rest of it taken for the host name, which psycopg's error then printed."""
    env = {**os.environ, "HOME": str(tmp_path), "CITYTALLY_DATABASE_URL": url}
    done = run("hub", "--no-api", cwd=tmp_path, env=env)
    assert said in the_line(done)
    assert "S3c" not in done.stderr + done.stdout and "tPW" not in done.stderr + done.stdout


def test_a_hub_asked_for_audit_checkpoints_without_a_key_is_refused_before_it_starts(tmp_path: Path) -> None:
    """It was refused only once ingest was on the broker (as the hub's client id, taking over the running
    hub's session) and the retention job had started: now as a bad config is, before the database."""
    (tmp_path / "hub.toml").write_text('[audit]\ncheckpoint_file = "checkpoints.log"\n')
    store = tmp_path / "hub.sqlite3"
    env = {**os.environ, "HOME": str(tmp_path), "CITYTALLY_DATABASE_URL": f"sqlite:///{store}"}
    env.pop("CITYTALLY_AUDIT_KEY", None)
    done = run("hub", "--config", "hub.toml", "--no-api", cwd=tmp_path, env=env)
    assert "CITYTALLY_AUDIT_KEY must hold a secret" in the_line(done)
    assert not store.exists()  # nothing opened, let alone a broker


def test_a_hub_whose_api_port_is_taken_says_so_before_it_starts(tmp_path: Path, busy_port: int) -> None:
    """It was uvicorn's own log line and exit status 3, once ingest had taken the broker session and the
    first admin token had been made and printed."""
    (tmp_path / "hub.toml").write_text(f"[api]\nport = {busy_port}\n")
    store = tmp_path / "hub.sqlite3"
    env = {**os.environ, "HOME": str(tmp_path), "CITYTALLY_DATABASE_URL": f"sqlite:///{store}"}
    done = run("hub", "--config", "hub.toml", cwd=tmp_path, env=env)
    assert f"[api] 127.0.0.1:{busy_port}: Address already in use" in the_line(done)
    assert not store.exists() and "token" not in done.stdout + done.stderr


def test_a_demo_whose_port_is_taken_says_so_before_the_analysis(tmp_path: Path, busy_port: int) -> None:
    done = run("demo", "--port", str(busy_port), "--out", "out", cwd=tmp_path)
    assert f"--port 127.0.0.1:{busy_port}: Address already in use" in the_line(done)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("given", "taken"),
    [
        ("broker.example", ("broker.example", 1883)),
        ("10.0.0.5:1884", ("10.0.0.5", 1884)),
        ("mqtt://10.0.0.5:1884", ("10.0.0.5", 1884)),  # was host "mqtt://10.0.0.5", retried for ever
        ("[::1]:1883", ("::1", 1883)),  # was host "[::1]", which "does not resolve"
        ("[fd00::5]", ("fd00::5", 1883)),
    ],
)
def test_a_broker_is_host_and_port_however_written(given: str, taken: tuple[str, int]) -> None:
    from citytally.edge.cli import parse_broker

    assert parse_broker(given) == taken


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("mqtts://10.0.0.5:8883", "(mqtt:// may precede it; for TLS add --tls)"),
        ("::1", "write an IPv6 address in brackets"),
        ("[::1", "expected HOST or HOST:PORT"),
        ("host:99999", "with a port in 1..65535"),
    ],
)
def test_a_broker_that_could_never_be_reached_is_refused_at_once(
    tmp_path: Path, given: str, said: str
) -> None:
    done = run("edge", "-c", str(CONFIG), "--broker", given, cwd=tmp_path)
    assert said in the_line(done)


def test_a_video_named_relative_to_a_folder_it_is_not_in_says_which_folder(tmp_path: Path) -> None:
    """Under a service manager the current folder is / : "tests/data/x.mp4: no such file" did not say
    where it had looked."""
    done = analyze("recordings/cam-1.mp4", cwd=tmp_path)
    said = the_line(done)
    assert f"recordings/cam-1.mp4: no such file (relative to the current folder, {tmp_path})" in said

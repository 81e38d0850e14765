"""A real RTSP camera for the source tests: GStreamer's RTSP server, run by Debian's system Python.

    /usr/bin/python3 tests/edge/tools/rtsp_camera.py PORT USER PASSWORD

Serves ``rtsp://USER:PASSWORD@127.0.0.1:PORT/cam``: a live H.264 test picture (a moving ball, 320×240 at
10 frames/s, a key frame every second) behind basic authentication, over RTP in UDP or interleaved in the
RTSP TCP connection, as IP cameras do. Prints ``ready`` once it listens. Needs the Debian packages in
scripts/setup-system.sh (gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-good and -ugly);
it does not run in the project's virtualenv, whose Python has no GObject bindings.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc pattern=ball is-live=true"
    " ! video/x-raw,width=320,height=240,framerate=10/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10"
    " ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def main() -> None:
    port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)

    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_role_from_structure(
        Gst.Structure.new_from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    )
    factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)

    if server.attach(None) == 0:
        sys.exit(f"rtsp_camera: cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Debian packages citytally's tests need beyond Python: headless Chromium for the browser tests, and
# GStreamer's RTSP server (run by Debian's own Python) as a real RTSP camera for the source tests.
# Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ! /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' >/dev/null 2>&1 \
  || ! command -v gst-inspect-1.0 >/dev/null 2>&1 \
  || ! gst-inspect-1.0 x264enc >/dev/null 2>&1 || ! gst-inspect-1.0 rtph264pay >/dev/null 2>&1; then
  need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools gstreamer1.0-plugins-base
         gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: please install ${need[*]} (Debian packages) or run as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

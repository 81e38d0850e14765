#!/usr/bin/env bash
# What citytally needs from the machine beyond its virtualenv, per README command. Idempotent.
#   setup-system.sh demo  checks (installs nothing, needs no root): Python 3.11+, Node.js >= 20.19, npm.
#   setup-system.sh test  also installs the Debian packages only the tests use, if missing (needs root then):
#                         headless Chromium for the browser tests, strace for the privacy boundary's test,
#                         and GStreamer's RTSP server (run by Debian's own Python) as a real RTSP camera for
#                         the source tests.
set -euo pipefail
mode="${1:-test}"
case "$mode" in demo|test) ;; *) echo "setup-system: usage: setup-system.sh demo|test" >&2; exit 2 ;; esac

fail() { echo "setup-system: $*" >&2; exit 1; }

python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || fail "citytally needs Python 3.11 or newer ($python: $("$python" --version 2>&1 | head -n1))"
command -v node >/dev/null 2>&1 || fail "the dashboard build needs Node.js >= 20.19 and npm (Debian: nodejs, npm)"
command -v npm >/dev/null 2>&1 || fail "the dashboard build needs npm (Debian: npm)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || fail "the dashboard build (Vite 7) needs Node.js >= 20.19, found $(node --version)"
[ "$mode" = demo ] && exit 0

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v strace >/dev/null 2>&1 || need+=(strace)  # what an analysis writes and dials, as the kernel sees it
if ! /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' >/dev/null 2>&1 \
  || ! command -v gst-inspect-1.0 >/dev/null 2>&1 \
  || ! gst-inspect-1.0 x264enc >/dev/null 2>&1 || ! gst-inspect-1.0 rtph264pay >/dev/null 2>&1; then
  need+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools gstreamer1.0-plugins-base
         gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    fail "the tests need ${need[*]} (Debian packages): install them, or run make test as root once"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

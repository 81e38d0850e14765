#!/usr/bin/env bash
# OpenCV's sample video vtest.avi (768x576, 795 frames, a pedestrian plaza), from Debian's opencv-doc
# package, cached outside git. Prints the path. Idempotent.
set -euo pipefail
cache="${CITYTALLY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/citytally}"
target="$cache/vtest.avi"
if [ -s "$target" ]; then echo "$target"; exit 0; fi
mkdir -p "$cache"
if [ -s /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
  cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$target.part"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download opencv-doc >/dev/null 2>&1 || { apt-get update -qq && apt-get download opencv-doc >/dev/null; })
  dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb \
    | tar -x -C "$work" ./usr/share/doc/opencv-doc/examples/data/vtest.avi
  cp "$work/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$target.part"
fi
mv "$target.part" "$target"
echo "$target"

#!/bin/sh
# Installs the Debian packages of the embedded (offline) speech stack: flite (TTS), libpocketsphinx3 and
# pocketsphinx-en-us (STT). Idempotent: does nothing when they are present. Without root or apt-get it
# prints exactly what to install and exits non-zero.
set -eu

PACKAGES="flite libpocketsphinx3 pocketsphinx-en-us"

missing=""
for pkg in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $pkg" ;;
  esac
done
missing=${missing# }

if [ -z "$missing" ]; then
  echo "embedded speech stack: all packages installed ($PACKAGES)"
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "embedded speech stack: installing $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y $missing
  exit 0
fi

echo "embedded speech stack: missing Debian packages: $missing" >&2
if command -v apt-get >/dev/null 2>&1; then
  echo "install them with: sudo apt-get install -y $missing" >&2
else
  echo "this is not a Debian/Ubuntu system (no apt-get): install the equivalents of: $missing" >&2
fi
exit 1

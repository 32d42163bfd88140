#!/usr/bin/env bash
# Make sure the Debian packages the project needs are installed.
#   system-packages.sh run    what the service needs (Pango for WeasyPrint's PDFs)
#   system-packages.sh test   that, plus what the tests use (pdftotext; Chromium for the browser
#                             tests, which drive Debian's build: never `playwright install`)
# As root it installs what is missing; otherwise it prints the exact apt-get line and stops.
set -euo pipefail

packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
if [ "${1:-run}" = "test" ]; then
  packages+=(poppler-utils chromium)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "Not a Debian/Ubuntu system: make sure these (or your system's equivalents) are installed: ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing system packages. Install them, then run make again:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

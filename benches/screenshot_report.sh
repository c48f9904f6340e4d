#!/usr/bin/env bash
# Renders the README example's report.html in headless Chromium with the network cut off
# (a proxy on a closed local port), and saves a screenshot: the check that the report is
# self-contained and shows its pictures. Needs Debian's `chromium`.
# Usage: bash benches/screenshot_report.sh [OUTDIR]   (default: benches/out/report)
set -euo pipefail
out=${1:-$(dirname "$0")/out/report}
mkdir -p "$out"
cryodedup demo "$out/demo" --plot --force --quiet
report=$(cd "$out/demo/result" && pwd)/report.html
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
  --window-size=1200,4200 --screenshot="$out/report.png" "file://$report" 2>/dev/null
echo "screenshot: $out/report.png"

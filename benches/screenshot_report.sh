#!/usr/bin/env bash
# Renders both reports in headless Chromium with the network cut off (a proxy on a closed
# local port), and saves screenshots: the check that each report is self-contained and shows
# its pictures. The particle report is the demo's; the micrograph report is made from ten
# synthetic micrographs, two of which re-image an area of an earlier one.
# Needs Debian's `chromium`.
# Usage: bash benches/screenshot_report.sh [OUTDIR]   (default: benches/out/report)
set -euo pipefail
out=${1:-$(dirname "$0")/out/report}
mkdir -p "$out/mics"
cryodedup demo "$out/demo" --plot --force --quiet
PYTHONPATH="$(dirname "$0")/../tests${PYTHONPATH:+:$PYTHONPATH}" python3 - "$out/mics" <<'PY'
import sys
import numpy as np
from fixtures.synthetic import exposure, specimen_field, write_mrc

folder, rng, psize = sys.argv[1], np.random.default_rng(11), 6.0
fields = [specimen_field(rng, 1300, 1800, psize) for _ in range(3)]
windows = [(0, 60, 60, {}), (1, 0, 0, {}), (2, 0, 0, {}), (0, 210, 260, {"defocus": 25000}),
           (1, 500, 900, {}), (2, 100, 50, {"defocus": 20000})]
images = [exposure(rng, fields[f], y, x, 582, 818, psize, **kw) for f, y, x, kw in windows]
images += [exposure(rng, specimen_field(rng, 700, 900, psize), 0, 0, 582, 818, psize) for _ in range(4)]
for k, image in enumerate(images):
    write_mrc(f"{folder}/FoilHole_{k + 1:04d}_Data.mrc", image, psize)
PY
cryodedup micrographs "$out"/mics/FoilHole_*_Data.mrc -o "$out/mics/result" --bin 2 --candidates all --plot --force --quiet
for job in demo/result mics/result; do
  report=$(cd "$out/$job" && pwd)/report.html
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
    --window-size=1250,6000 --screenshot="$out/${job%%/*}_report.png" "file://$report" 2>/dev/null
  echo "screenshot: $out/${job%%/*}_report.png"
done

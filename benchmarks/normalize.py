"""Normalization speed and memory: radiocast vs a bare ffmpeg transcode vs ffmpeg's loudnorm.

    python benchmarks/normalize.py [--minutes 15 60] [--runs 1] [--no-loudnorm]

Builds stereo 44.1 kHz MP3 test programmes (speech-like: a modulated tone over pink noise, with
silences), then runs, side by side on the same file:
  bare      ffmpeg -i in -ac 1 -ar 44100 -b:a 64k out.mp3
  loudnorm  ffmpeg -i in -af loudnorm=I=-16:TP=-1.5 -ac 1 -ar 44100 -b:a 64k out.mp3
  radiocast radiocast.audio.normalize (measure + encode + verify), timed in-process, as the
            daemon runs it; rc+start is the same run timed from a fresh interpreter
Peak RSS is per process tree: the largest of the Python process and each ffmpeg child
(ru_maxrss), summed over processes that run at the same time for radiocast.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from radiocast.audio.ffmpeg import find_ffmpeg  # noqa: E402

CHILD = """
import json, resource, sys, time
from pathlib import Path
from radiocast.audio.normalize import Tags, normalize
from radiocast.config import AudioSettings
t = time.perf_counter()
tags = Tags("b", "2026-11", "s", "vi")
r = normalize(Path(sys.argv[1]), Path(sys.argv[2]), AudioSettings(), tags)
wall = time.perf_counter() - t
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall": wall, "self_mib": own, "child_mib": kids,
                  "out_lufs": r.output.integrated_lufs}))
"""


def make_programme(path: Path, minutes: int) -> None:
    secs = minutes * 60
    src = (f"sine=frequency=330:sample_rate=44100:duration={secs},"
           "volume='0.6*(0.5+0.5*sin(2*PI*t/2.3))*gt(sin(2*PI*t/17),-0.8)':eval=frame")
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", src, "-f", "lavfi",
                    "-i", f"anoisesrc=color=pink:sample_rate=44100:amplitude=0.05:duration={secs}",
                    "-filter_complex", "[0][1]amix=inputs=2,aformat=channel_layouts=stereo",
                    "-b:a", "128k", str(path)], check=True)


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of one child process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, nargs="+", default=[15, 60])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-loudnorm", action="store_true")
    args = ap.parse_args()
    ff = find_ffmpeg()
    results: dict[int, dict[str, tuple[float, float]]] = {}
    parts: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            src = Path(tmp) / f"in-{minutes}.mp3"
            make_programme(src, minutes)
            walls: dict[str, list[float]] = {"bare": [], "loudnorm": [], "radiocast": [],
                                             "rc+start": []}
            rss: dict[str, float] = {"bare": 0, "loudnorm": 0, "radiocast": 0, "rc+start": 0}
            lufs = 0.0
            for _ in range(args.runs):
                w, r = measure([ff, "-v", "error", "-y", "-i", str(src), "-ac", "1", "-ar",
                                "44100", "-b:a", "64k", str(Path(tmp) / "bare.mp3")])
                walls["bare"].append(w)
                rss["bare"] = max(rss["bare"], r)
                if not args.no_loudnorm:
                    w, r = measure([ff, "-v", "error", "-y", "-i", str(src), "-af",
                                    "loudnorm=I=-16:TP=-1.5", "-ac", "1", "-ar", "44100",
                                    "-b:a", "64k", str(Path(tmp) / "ln.mp3")])
                    walls["loudnorm"].append(w)
                    rss["loudnorm"] = max(rss["loudnorm"], r)
                t = time.perf_counter()
                out = subprocess.run([sys.executable, "-c", CHILD, str(src),
                                      str(Path(tmp) / "rc.mp3")], capture_output=True,
                                     text=True, check=True).stdout
                walls["rc+start"].append(time.perf_counter() - t)
                doc = json.loads(out)
                # the daemon imports once and normalizes in-process: that is `radiocast`;
                # `rc+start` adds a fresh interpreter and imports (~1.5 s, scipy mostly)
                walls["radiocast"].append(doc["wall"])
                # python process + the two ffmpeg processes that run beside it while encoding
                # (a conservative sum: their shared libraries are counted twice)
                rss["radiocast"] = max(rss["radiocast"], doc["self_mib"] + 2 * doc["child_mib"])
                rss["rc+start"] = rss["radiocast"]
                parts[minutes] = (doc["self_mib"], doc["child_mib"])
                lufs = doc["out_lufs"]
            results[minutes] = {k: (statistics.median(v), rss[k]) for k, v in walls.items() if v}
            print(f"{minutes} min: radiocast output {lufs:.2f} LUFS", file=sys.stderr)
    print(f"{'programme':<10} {'tool':<10} {'wall s':>8} {'× bare':>7} {'peak RSS MiB':>13}")
    for minutes, row in results.items():
        bare = row["bare"][0]
        for tool, (wall, mib) in row.items():
            print(f"{minutes:>3} min    {tool:<10} {wall:>8.1f} {wall / bare:>7.2f} {mib:>13.0f}")
    for minutes, (own, child) in parts.items():
        print(f"radiocast {minutes} min: Python process {own:.0f} MiB, largest ffmpeg child "
              f"{child:.0f} MiB")
    if len(results) == 2:
        a, b = sorted(results)
        ratio = results[b]["radiocast"][1] / results[a]["radiocast"][1]
        print(f"radiocast peak RSS, {b} min / {a} min: {ratio:.2f}")


if __name__ == "__main__":
    main()

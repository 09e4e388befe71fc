"""Normalization speed and memory: radiocast vs a bare ffmpeg transcode vs ffmpeg's loudnorm.

    python benchmarks/normalize.py [--minutes 15 60] [--runs 1] [--no-loudnorm]

Builds stereo 44.1 kHz MP3 test programmes of each length in two kinds:
  plain  speech-like: a modulated tone over pink noise, with silences
  heavy  the same 11 dB quieter (about -32 LUFS) with a full-scale click every 8 s and peaks
         over 0 dBTP: reaching -16 LUFS needs about +16 dB and a limiter that costs several LU
then runs, side by side on the same file:
  bare      ffmpeg -i in -ac 1 -ar 44100 -b:a 64k out.mp3
  loudnorm  ffmpeg -i in -af loudnorm=I=-16:TP=-1.5 -ac 1 -ar 44100 -b:a 64k out.mp3
  2-pass    ffmpeg's documented two-pass loudnorm: a measuring pass (print_format=json, to
            null), then the encode with the measured values (linear where it can): the
            baseline #35 sets radiocast against (goal: radiocast ≤ 1.3× it)
  radiocast radiocast.audio.normalize (measure + encode + verify), timed in-process, as the
            daemon runs it; rc+start is the same run timed from a fresh interpreter
Peak RSS is per process tree: ru_maxrss for a lone ffmpeg; for radiocast, the Python process
and its ffmpeg children summed, sampled every 20 ms (the most they hold at one time). That sum
counts the libraries the ffmpeg processes share once per process; `tree PSS` sums each
process's proportional set size instead (a shared page divided among its sharers): what the
tree costs the machine.
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
import json, os, resource, sys, threading, time
from pathlib import Path

def mib(pid, name, key):
    try:
        for line in open(f"/proc/{pid}/{name}"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

def rss(pid):
    return mib(pid, "status", "VmRSS:")

def pss(pid):
    return mib(pid, "smaps_rollup", "Pss:")

def tree(size):
    me = os.getpid()
    kids = []
    for task in os.listdir(f"/proc/{me}/task"):
        try:
            kids += open(f"/proc/{me}/task/{task}/children").read().split()
        except OSError:
            pass
    return size(me) + sum(size(k) for k in kids)

peak = [0.0, 0.0]
done = threading.Event()
def sample():
    while not done.wait(0.02):
        peak[0] = max(peak[0], tree(rss))
        peak[1] = max(peak[1], tree(pss))
threading.Thread(target=sample, daemon=True).start()
from radiocast.audio.normalize import Tags, normalize
from radiocast.config.settings import AudioSettings
from radiocast.audio.meter import _kernel
_kernel()  # scipy's biquad loop, loaded once when the daemon starts: not a normalization's
t = time.perf_counter()
tags = Tags("b", "2026-11", "s", "vi")
r = normalize(Path(sys.argv[1]), Path(sys.argv[2]), AudioSettings(), tags)
wall = time.perf_counter() - t
done.set()
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"wall": wall, "self_mib": own, "child_mib": kids, "tree_mib": peak[0],
                  "tree_pss_mib": peak[1],
                  "out_lufs": r.output.integrated_lufs, "out_tp": r.output.true_peak_dbtp,
                  "gain": r.gain_db,
                  "limited": r.limited}))
"""


def make_programme(path: Path, minutes: int, heavy: bool = False) -> None:
    secs = minutes * 60
    src = (f"sine=frequency=330:sample_rate=44100:duration={secs},"
           "volume='0.6*(0.5+0.5*sin(2*PI*t/2.3))*gt(sin(2*PI*t/17),-0.8)':eval=frame")
    noise = f"anoisesrc=color=pink:sample_rate=44100:amplitude=0.05:duration={secs}"
    graph = "[0][1]amix=inputs=2,aformat=channel_layouts=stereo"
    inputs = ["-f", "lavfi", "-i", src, "-f", "lavfi", "-i", noise]
    if heavy:
        click = "0.95*sin(2*PI*900*t)*lt(mod(t\\,8)\\,0.002)"
        inputs += ["-f", "lavfi", "-i", f"aevalsrc='{click}|{click}':s=44100:d={secs}"]
        graph = ("[0][1]amix=inputs=2,volume=1.2,aformat=channel_layouts=stereo[q];"
                 "[q][2]amix=inputs=2:normalize=0")
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", *inputs, "-filter_complex", graph,
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


def two_pass(ff: str, src: Path, out: Path) -> tuple[float, float]:
    """ffmpeg's two-pass loudnorm: measure, then normalize with the measured values."""
    import json

    t = time.perf_counter()
    first = subprocess.run([ff, "-hide_banner", "-nostats", "-i", str(src), "-af",
                            "loudnorm=I=-16:TP=-1.5:print_format=json", "-f", "null", "-"],
                           capture_output=True, text=True, check=True).stderr
    m = json.loads(first[first.rindex("{"):first.rindex("}") + 1])
    wall1 = time.perf_counter() - t
    filt = (f"loudnorm=I=-16:TP=-1.5:measured_I={m['input_i']}:measured_TP={m['input_tp']}"
            f":measured_LRA={m['input_lra']}:measured_thresh={m['input_thresh']}"
            f":offset={m['target_offset']}:linear=true")
    w2, r2 = measure([ff, "-v", "error", "-y", "-i", str(src), "-af", filt, "-ac", "1", "-ar",
                      "44100", "-b:a", "64k", str(out)])
    return wall1 + w2, r2


def run_case(src: Path, tmp: Path, runs: int,
             loudnorm: bool) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """Median wall and peak RSS per tool for one programme; and radiocast's own figures."""
    import json

    ff = find_ffmpeg()
    walls: dict[str, list[float]] = {"bare": [], "loudnorm": [], "2-pass": [], "radiocast": [],
                                     "rc+start": []}
    rss: dict[str, float] = dict.fromkeys(walls, 0.0)
    doc: dict[str, float] = {}
    for _ in range(runs):
        w, r = measure([ff, "-v", "error", "-y", "-i", str(src), "-ac", "1", "-ar", "44100",
                        "-b:a", "64k", str(tmp / "bare.mp3")])
        walls["bare"].append(w)
        rss["bare"] = max(rss["bare"], r)
        if loudnorm:
            w, r = measure([ff, "-v", "error", "-y", "-i", str(src), "-af",
                            "loudnorm=I=-16:TP=-1.5", "-ac", "1", "-ar", "44100", "-b:a", "64k",
                            str(tmp / "ln.mp3")])
            walls["loudnorm"].append(w)
            rss["loudnorm"] = max(rss["loudnorm"], r)
            w, r = two_pass(ff, src, tmp / "ln2.mp3")
            walls["2-pass"].append(w)
            rss["2-pass"] = max(rss["2-pass"], r)
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(src), str(tmp / "rc.mp3")],
                             capture_output=True, text=True, check=True).stdout
        walls["rc+start"].append(time.perf_counter() - t)
        doc = json.loads(out)
        # the daemon imports once and normalizes in-process: that is `radiocast`;
        # `rc+start` adds a fresh interpreter and imports (~1.5 s, scipy mostly)
        walls["radiocast"].append(doc["wall"])
        # the Python process and its ffmpeg children together, sampled every 20 ms (VmRSS:
        # shared libraries counted once per process)
        rss["radiocast"] = max(rss["radiocast"], doc["tree_mib"])
        rss["rc+start"] = rss["radiocast"]
    return {k: (statistics.median(v), rss[k]) for k, v in walls.items() if v}, doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, nargs="+", default=[15, 60])
    ap.add_argument("--kinds", nargs="+", default=["plain", "heavy"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--no-loudnorm", action="store_true")
    args = ap.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    docs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            for kind in args.kinds:
                src = Path(tmp) / f"in-{minutes}-{kind}.mp3"
                make_programme(src, minutes, heavy=kind == "heavy")
                label = f"{minutes} min {kind}"
                results[label], docs[label] = run_case(src, Path(tmp), args.runs,
                                                       not args.no_loudnorm)
                src.unlink()
    print(f"{'programme':<15} {'tool':<10} {'wall s':>8} {'× bare':>7} {'× 2-pass':>9} "
          f"{'peak RSS MiB':>13}")
    for label, row in results.items():
        bare = row["bare"][0]
        two = row["2-pass"][0] if "2-pass" in row else float("nan")
        for tool, (wall, mib) in row.items():
            print(f"{label:<15} {tool:<10} {wall:>8.1f} {wall / bare:>7.2f} {wall / two:>9.2f} "
                  f"{mib:>13.0f}")
    print()
    print(f"{'programme':<15} {'gain dB':>8} {'limited':>8} {'out LUFS':>9} {'out dBTP':>9} "
          f"{'py MiB':>7} {'tree MiB':>9} {'tree PSS':>9}")
    for label, d in docs.items():
        print(f"{label:<15} {d['gain']:>8.2f} {d['limited']!s:>8} {d['out_lufs']:>9.2f} "
              f"{d['out_tp']:>9.2f} {d['self_mib']:>7.0f} {d['tree_mib']:>9.0f} "
              f"{d['tree_pss_mib']:>9.0f}")
    for kind in args.kinds:
        rows = sorted((m, results[f"{m} min {kind}"]["radiocast"][1]) for m in args.minutes)
        if len(rows) >= 2:
            print(f"radiocast peak RSS {kind}, {rows[-1][0]} min / {rows[0][0]} min: "
                  f"{rows[-1][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()

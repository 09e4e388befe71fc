"""What listening costs a station: the capture's share of one core while a programme airs.

    python benchmarks/capture.py [--seconds 60]

A real PulseAudio server with a null sink (as the tests start it); a programme of the given
length is played to the sink by `paplay` (the player, for scale), once alone and then with the
agent's capture (`radiocast.audio.capture`: ffmpeg reading the sink's monitor, the BS.1770
meter in a thread) beside it, mono and stereo. The capture's CPU is ffmpeg's (from /proc) plus
the meter thread's, over the airing's wall time. Goal: at most 5 % of one core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from radiocast.audio.capture import Capture  # noqa: E402
from radiocast.audio.ffmpeg import find_ffmpeg  # noqa: E402
from tests.pulse import SINK, pulse_server  # noqa: E402

GOAL = 0.05


def programme(path: Path, seconds: float) -> Path:
    """Speech-like (a tone that comes and goes), mono 44.1 kHz 64 kb/s: the station format."""
    src = (f"sine=frequency=440:sample_rate=44100:duration={seconds},"
           "volume='0.3+0.25*sin(2*PI*t/3)':eval=frame")
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", src, "-ac", "1",
                    "-b:a", "64k", str(path)], check=True)
    return path


def play(path: Path) -> tuple[float, float]:
    """Play to the sink: (wall seconds, the player's CPU seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(["paplay", "-d", SINK, str(path)])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - t0, usage.ru_utime + usage.ru_stime


def airing(path: Path, channels: int, log_dir: Path) -> dict[str, float]:
    cap = Capture(f"pulse:{SINK}.monitor", -50.0, channels, log_dir)
    wall, player_cpu = play(path)
    heard = cap.finish()
    assert not heard.error, heard.error
    cpu = cap.ffmpeg_cpu_s + cap.thread_cpu_s
    return {"wall": wall, "player": player_cpu, "ffmpeg": cap.ffmpeg_cpu_s,
            "meter": cap.thread_cpu_s, "share": cpu / wall, "lufs": heard.lufs or float("nan"),
            "seconds": heard.seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, pulse_server(Path(tmp) / "pulse"):
        root = Path(tmp)
        prog = programme(root / "p.mp3", args.seconds)
        wall, player_cpu = play(prog)
        print(f"programme {args.seconds:g} s, played to a PulseAudio null sink by paplay\n")
        print(f"{'run':<22}{'wall s':>8}{'player CPU s':>14}{'capture CPU s':>15}"
              f"{'of one core':>13}{'vs 5 % goal':>13}{'heard LUFS':>12}")
        print(f"{'player alone':<22}{wall:>8.1f}{player_cpu:>14.3f}{'-':>15}{'-':>13}"
              f"{'-':>13}{'-':>12}")
        worst = 0.0
        for channels in (1, 2):
            r = airing(prog, channels, root)
            worst = max(worst, r["share"])
            name = f"with capture ({'mono' if channels == 1 else 'stereo'})"
            print(f"{name:<22}{r['wall']:>8.1f}{r['player']:>14.3f}"
                  f"{r['ffmpeg'] + r['meter']:>15.3f}{100 * r['share']:>12.2f}%"
                  f"{r['share'] / GOAL:>12.2f}x{r['lufs']:>12.1f}")
            print(f"{'':<22}  (ffmpeg {r['ffmpeg']:.3f} s, meter thread {r['meter']:.3f} s, "
                  f"{r['seconds']:.1f} s of sound metered)")
        print(f"\nworst: {100 * worst:.2f} % of one core (goal ≤ {100 * GOAL:.0f} %): "
              f"{'met' if worst <= GOAL else 'NOT met'}")
        return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())

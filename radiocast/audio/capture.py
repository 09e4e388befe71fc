"""Listening to what a station sends out while it plays: ffmpeg reads a live source (a
PulseAudio/PipeWire monitor such as `pulse:SINK.monitor`, or an ALSA input such as
`alsa:hw:1,0` wired from the amplifier's output) and a thread meters it with the BS.1770 meter
the hub normalizes with: integrated loudness and the share of silent seconds.

A capture that cannot start, or stops by itself (the device is gone), never touches what is
playing: its result says why there is no level."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiocast.audio.ffmpeg import find_ffmpeg, widen_pipe
from radiocast.audio.meter import LoudnessMeter, feed_stream
from radiocast.core.errors import AudioError

RATE = 48000  # what the source is asked for; PulseAudio and ALSA resample if they must
STDERR_TAIL = 300
STOP_WAIT = 5.0


@dataclass(frozen=True)
class Heard:
    """What came out while an airing played. `lufs` is None when nothing passed the meter's
    gates (silence) or nothing was read; `error` says why a capture gave no (or a partial)
    level."""

    source: str
    lufs: float | None
    silent_fraction: float | None
    seconds: float
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"source": self.source, "lufs": self.lufs,
                               "silent_fraction": self.silent_fraction,
                               "seconds": round(self.seconds, 1)}
        if self.error:
            doc["error"] = self.error
        return doc


class Capture:
    """One airing's capture: started with the player, finished when the player ends."""

    def __init__(self, source: str, silence_lufs: float, channels: int, log_dir: Path) -> None:
        self.source = source
        self.silence_lufs = silence_lufs
        self.meter = LoudnessMeter(RATE, channels, peaks=False)
        self.error = ""
        self.thread_cpu_s = 0.0
        self.ffmpeg_cpu_s = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self.result: Heard | None = None
        self.err_path = log_dir / "capture.err"
        fmt, _, device = source.partition(":")
        try:
            cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error",
                   "-f", fmt, "-channels", str(channels), "-sample_rate", str(RATE),
                   "-i", device, "-f", "f32le", "-c:a", "pcm_f32le", "pipe:1"]
            with open(self.err_path, "wb") as err:
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=err,
                                             start_new_session=True)
        except (OSError, AudioError) as exc:
            self.error = f"the capture could not start: {exc}"[:STDERR_TAIL]
            self.thread: threading.Thread | None = None
            return
        assert self.proc.stdout is not None
        widen_pipe(self.proc.stdout)
        self.thread = threading.Thread(target=self._meter, name="radiocast-capture",
                                       daemon=True)
        self.thread.start()

    def _meter(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            feed_stream(self.meter, self.proc.stdout)
        except (OSError, ValueError) as exc:
            self.error = f"the capture could not be read: {exc}"[:STDERR_TAIL]
        finally:
            self.thread_cpu_s = time.thread_time()

    @property
    def seconds(self) -> float:
        return self.meter.frames / RATE

    def finish(self) -> Heard:
        """Stop ffmpeg (it flushes on SIGINT), let the meter read the rest, and say what was
        heard. A capture that ended before it was asked to is a failed capture. Asked again,
        the same answer."""
        if self.result is not None:
            return self.result
        if self.proc is not None and self.thread is not None:
            ended = self.proc.poll()
            self.ffmpeg_cpu_s = _cpu_seconds(self.proc.pid)
            if ended is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=STOP_WAIT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.thread.join(timeout=STOP_WAIT)
            if ended is not None and not self.error:
                self.error = (f"the capture stopped by itself after {self.seconds:.0f} s "
                              f"(ffmpeg exit {ended}): {self._stderr_tail()}")[:STDERR_TAIL]
        self.result = self.heard()
        return self.result

    def heard(self) -> Heard:
        if not self.meter.frames:
            return Heard(self.source, None, None, 0.0,
                         self.error or f"no sound came from the source: {self._stderr_tail()}")
        loud = self.meter.result()
        lufs = round(loud.integrated_lufs, 1) if math.isfinite(loud.integrated_lufs) else None
        return Heard(self.source, lufs, round(self.meter.silent_fraction(self.silence_lufs), 3),
                     self.seconds, self.error)

    def _stderr_tail(self) -> str:
        try:
            text = self.err_path.read_bytes()[-STDERR_TAIL:].decode("utf-8", "replace")
        except OSError:
            return ""
        return " ".join(text.split()) or "no message"


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a running process (Linux /proc), 0.0 when not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0

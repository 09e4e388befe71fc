"""The gain that reaches the loudness target once the limiter has shaved the peaks, found on
PCM before the one and only MP3 encode.

A look-ahead limiter takes loudness away with the peaks, so the gain that reaches the target
is more than `target - measured`. The loss is found by running the same limiter over station-
format PCM and measuring the result (no encoding), and the gain is corrected by a secant step
until the limited loudness is on target. Each step reads a **sample** of the programme (every
eighth 10-second segment of a long one, all of a short one), so the search costs a small
fraction of the encode whatever the programme's length. The loss measured on the sample is
carried over to the whole programme: the sample's own loudness is measured without the limiter
once, and the search solves for the same *difference* on the sample that the whole programme
needs, which cancels most of the difference between sample and whole.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from radiocast.audio.ffmpeg import find_ffmpeg, last_line, widen_pipe
from radiocast.audio.meter import LoudnessMeter, feed_stream
from radiocast.core.errors import AudioError


class Target(Protocol):
    """What the search needs of `config.settings.AudioSettings` (read-only)."""

    @property
    def target_lufs(self) -> float: ...
    @property
    def true_peak_dbtp(self) -> float: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def channels(self) -> int: ...


SEGMENT_S = 10.0  # a multiple of the meter's 100 ms sub-blocks
SAMPLE_EVERY = 8  # one segment in eight for long programmes
MIN_SEGMENTS = 12  # never fewer segments than this (short programmes: all of them)
TOLERANCE_LU = 0.05  # the search stops this close to the target (the meter's own noise)
MAX_STEPS = 6


def limiter_filters(settings: Target, gain_db: float, limit: bool) -> list[str]:
    """Gain and, where peaks need it, a look-ahead limiter: the same filters for the search
    and for the encode, so what the search measured is what is encoded."""
    filters = [f"volume={gain_db:.3f}dB"]
    if limit:
        # sample-peak ceiling 1 dB under the true-peak ceiling leaves room for inter-sample
        # overs and the MP3 encoder; look-ahead, delay-compensated, no auto make-up gain
        ceiling = 10 ** ((settings.true_peak_dbtp - 1.0) / 20)
        filters.append(f"alimiter=limit={ceiling:.5f}:attack=5:release=80:level=false"
                       ":latency=true")
    return filters


def sample_segments(frames: int, sr: int) -> list[tuple[int, int]]:
    """(first frame, frame count) of the segments the search reads, evenly over `frames`."""
    seg = round(SEGMENT_S * sr)
    count = max(1, -(-frames // seg))
    every = max(1, min(SAMPLE_EVERY, count // MIN_SEGMENTS))
    if every == 1:
        return [(0, frames)]
    return [(i * seg, min(seg, frames - i * seg)) for i in range(every // 2, count, every)]


def write_sample(raw: Path, span_frames: tuple[int, int], sr: int, ch: int,
                 dst: Path) -> None:
    """Copy the sampled segments of `raw` (within the kept span) into `dst`."""
    first, end = span_frames
    frame = 4 * ch
    with open(raw, "rb") as src, open(dst, "wb") as out:
        for start, count in sample_segments(end - first, sr):
            src.seek((first + start) * frame)
            out.write(src.read(count * frame))


@dataclass(frozen=True)
class Search:
    gain_db: float
    sample_passes: int  # limiter passes over the sample
    whole_passes: int  # limiter passes over the whole programme (0 or 1)
    loss_lu: float  # loudness the limiter takes at that gain (last measured)
    slope: float = 1.0  # LU of limited loudness per dB of gain, near that gain


def find_gain(raw: Path, span: tuple[int, int], settings: Target,
              programme_lufs: float) -> Search:
    """The gain at which the limited programme (frames `span` of `raw`) should measure
    `settings.target_lufs`, before the codec's own small loss.

    Searched on a sample; then, for a programme longer than its sample, one pass over the
    whole corrects what the sample got wrong (content is not uniform), using the slope the
    search found."""
    sr, ch = settings.sample_rate, settings.channels
    base = settings.target_lufs - programme_lufs
    segments = sample_segments(span[1] - span[0], sr)
    if len(segments) == 1:  # short: the sample is the programme
        gain, slope, passes = _secant(_Source(raw, span), settings, programme_lufs + base,
                                      base, programme_lufs)
        return Search(gain, passes, 0, programme_lufs + gain - settings.target_lufs, slope)
    sample = raw.with_name(raw.name + ".sample")
    try:
        write_sample(raw, span, sr, ch, sample)
        plain = _loudness(_Source(sample, None), settings, 0.0, limit=False)
        gain, slope, passes = _secant(_Source(sample, None), settings, plain + base, base,
                                      plain)
    finally:
        sample.unlink(missing_ok=True)
    got = _loudness(_Source(raw, span), settings, gain, limit=True)
    loss = programme_lufs + gain - got
    gain += (settings.target_lufs - got) / slope
    return Search(gain, passes, 1, loss, slope)


def _secant(src: _Source, settings: Target, aim: float, gain: float,
            plain: float) -> tuple[float, float, int]:
    """Raise `gain` until the limited `src` measures `aim`. Returns (gain, the local slope
    of loudness per dB of gain, passes)."""
    got = _loudness(src, settings, gain, limit=True)
    prev = (0.0, plain)  # unlimited at no gain: the first secant is the average slope
    slope = 1.0
    passes = 1
    while abs(aim - got) > TOLERANCE_LU and passes < MAX_STEPS:
        if abs(got - prev[1]) > 0.01 and gain != prev[0]:
            slope = min(max((got - prev[1]) / (gain - prev[0]), 0.2), 1.0)
        prev = (gain, got)
        gain += (aim - got) / slope
        got = _loudness(src, settings, gain, limit=True)
        passes += 1
    if abs(got - prev[1]) > 0.01 and gain != prev[0]:
        slope = min(max((got - prev[1]) / (gain - prev[0]), 0.2), 1.0)
    return gain, slope, passes


@dataclass(frozen=True)
class _Source:
    path: Path
    span: tuple[int, int] | None  # frames to keep, or all of it


def _loudness(src: _Source, settings: Target, gain_db: float, limit: bool) -> float:
    """Integrated loudness of `src` through the gain and limiter filters."""
    sr, ch = settings.sample_rate, settings.channels
    meter = LoudnessMeter(sr, ch, peaks=False)
    if not limit and gain_db == 0.0 and src.span is None:
        with open(src.path, "rb") as fh:
            feed_stream(meter, fh)
        return meter.result().integrated_lufs
    filters = limiter_filters(settings, gain_db, limit)
    if src.span is not None:
        filters.insert(0, f"atrim=start_sample={src.span[0]}:end_sample={src.span[1]}")
    cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error",
           "-f", "f32le", "-ar", str(sr), "-ac", str(ch), "-i", str(src.path),
           "-af", ",".join(filters), "-f", "f32le", "pipe:1"]
    with tempfile.TemporaryFile() as err:  # never a pipe nobody reads
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        widen_pipe(proc.stdout)
        with proc.stdout:
            feed_stream(meter, proc.stdout)
        if proc.wait() != 0:
            err.seek(0)
            raise AudioError("encode_failed", last_line(err.read().decode("utf-8", "replace")))
    return meter.result().integrated_lufs

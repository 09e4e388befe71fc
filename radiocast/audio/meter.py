"""A streaming ITU-R BS.1770-4 loudness meter: integrated loudness, EBU 3342 loudness range,
4x-oversampled true peak. numpy and scipy's compiled biquad loop (see "filters, without
scipy.signal" below), fed chunk by chunk, memory bounded by the chunk."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
SILENCE_LUFS = -60.0
log = logging.getLogger(__name__)


def k_weighting_sos(fs: int) -> npt.NDArray[np.float64]:
    """The two K-weighting biquads (pre-filter shelf, RLB high-pass) for sample rate `fs`.

    The bilinear-transform design of libebur128: at 48 kHz it reproduces the coefficient
    table of ITU-R BS.1770-4 exactly, and it adapts to any other rate.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0,
             (vh - vb * k / q + k * k) / a0, 1.0, 2 * (k * k - 1) / a0,
             (1 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


# ---------------------------------------------------------------- filters, without scipy.signal
# `scipy.signal` loads about 75 MiB of modules (linear algebra, special functions, splines,
# windows…) for the meter's two needs. The meter runs in the hub's process beside three ffmpeg
# processes during a normalization: that was a third of the process tree's memory (#35, goal
# ≤ 200 MiB). `lowpass_fir` is `scipy.signal.firwin(numtaps, cutoff)` with its defaults, in
# numpy; `Cascade` runs the biquads with scipy's own compiled loop (`scipy.signal._sosfilt`, a
# small extension module loaded by itself, called as `sosfilt` calls it). Should a scipy
# release move or change that loop, `Cascade` uses `scipy.signal.sosfilt`: the same numbers.

F64 = npt.NDArray[np.float64]
KERNEL = "scipy.signal._sosfilt"


def lowpass_fir(numtaps: int, cutoff: float) -> F64:
    """A linear-phase low-pass FIR: `cutoff` relative to Nyquist, Hamming-windowed sinc,
    scaled to unity gain at 0 Hz (what `scipy.signal.firwin(numtaps, cutoff)` returns)."""
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = cutoff * np.sinc(cutoff * m) * np.hamming(numtaps)
    out: F64 = h / h.sum()
    return out


@cache
def _kernel() -> Callable[[F64, F64, F64], None] | None:
    """scipy's compiled biquad loop, loaded without the rest of `scipy.signal`."""
    try:
        if KERNEL in sys.modules:
            return sys.modules[KERNEL]._sosfilt  # type: ignore[no-any-return]
        import scipy

        folder = Path(scipy.__file__).parent / "signal"
        path = next(p for suffix in importlib.machinery.EXTENSION_SUFFIXES
                    if (p := folder / f"_sosfilt{suffix}").exists())
        spec = importlib.util.spec_from_file_location(KERNEL, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[KERNEL] = module  # scipy.signal, if imported later, finds it loaded
        kernel: Callable[[F64, F64, F64], None] = module._sosfilt
        _check(kernel)
        return kernel
    except Exception as exc:  # a scipy without it, or a different one: the public function
        log.info("scipy's biquad loop not loaded alone (%s); using scipy.signal.sosfilt", exc)
        return None


def _check(kernel: Callable[[F64, F64, F64], None]) -> None:
    """One impulse through one known biquad: the loop is the one `sosfilt` calls."""
    sos = np.array([[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]])
    x = np.zeros((1, 4))
    x[0, 0] = 1.0
    kernel(sos, x, np.zeros((1, 1, 2)))
    if not np.allclose(x[0], [1.0, 0.5, 0.25, 0.125]):
        raise ValueError(f"unexpected impulse response {x[0].tolist()}")


class Cascade:
    """A cascade of biquads (`sos`, as scipy's) over `channels` channels, its state carried
    from one block to the next."""

    def __init__(self, sos: F64, channels: int) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self.zi: F64 = np.zeros((channels, len(self.sos), 2))

    def __call__(self, x: npt.NDArray[Any]) -> F64:
        """Filter a (frames, channels) block; returns float64 of the same shape."""
        kernel = _kernel()
        if kernel is None:
            from scipy import signal

            out: F64 = np.empty(x.shape, dtype=np.float64)
            for c in range(x.shape[1]):
                out[:, c], self.zi[c] = signal.sosfilt(self.sos, x[:, c], zi=self.zi[c])
            return out
        y = np.array(x.T, dtype=np.float64, order="C")  # a copy, filtered in place
        kernel(self.sos, y, self.zi)
        filtered: F64 = y.T
        return filtered


_TP_UP = 4
_TP_PHASE_TAPS = 12


@cache
def _tp_h() -> Any:
    """48-tap interpolation low-pass as a (taps per phase × phases) matrix:
    y[4n+p] = x[n-k]·H[k,p]."""
    return (lowpass_fir(_TP_UP * _TP_PHASE_TAPS, 0.9 / _TP_UP) * _TP_UP).reshape(
        _TP_PHASE_TAPS, _TP_UP)
_TP_TAIL = 16
_TP_HEADROOM = 10 ** (4.0 / 20)  # a true peak is assumed within 4 dB above its sample peak


def _oversampled_peak(x: npt.NDArray[np.float32], threshold: float) -> float:
    """Largest |4x-interpolated| value of `x` near samples at or above `threshold`."""
    win = np.lib.stride_tricks.sliding_window_view(x, _TP_PHASE_TAPS)[:, ::-1]
    cand = np.flatnonzero(np.abs(x) >= threshold)
    if cand.size * 10 > x.size:
        up = win @ _tp_h()  # dense: cheaper to do every sample than to index
    else:
        # outputs n = i+5..i+7 cover the interval around sample i (group delay 5.875 samples)
        mask = np.zeros(win.shape[0] + 8, dtype=bool)
        for d in (5, 6, 7):
            mask[np.clip(cand + d - (_TP_PHASE_TAPS - 1), 0, None)] = True
        j = np.flatnonzero(mask[: win.shape[0]])
        up = win[j] @ _tp_h()
    return float(np.max(np.abs(up))) if up.size else 0.0


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float  # -inf when no block passes the gates
    lra_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    duration_s: float
    gated_blocks: int

    @property
    def silent(self) -> bool:
        return self.gated_blocks == 0 or self.integrated_lufs < SILENCE_LUFS


class LoudnessMeter:
    """Streaming BS.1770-4 integrated loudness, EBU 3342 loudness range, 4x true peak."""

    def __init__(self, fs: int, channels: int, peaks: bool = True) -> None:
        """`peaks=False` skips the true-peak search (loudness only, about twice as fast)."""
        self.fs = fs
        self.peaks = peaks
        self.channels = channels
        self.sos = k_weighting_sos(fs)
        self.k_filter = Cascade(self.sos, channels)
        self.sub = fs // 10  # 100 ms sub-blocks
        self.carry: FloatArray = np.zeros((0, channels), dtype=np.float32)
        self.sub_energy: list[float] = []  # K-weighted channel-summed mean square / sub-block
        self.frames = 0
        self.sample_peak = 0.0
        self.true_peak = 0.0
        self.tp_tail = np.zeros((_TP_TAIL, channels), dtype=np.float32)

    def feed(self, x: FloatArray) -> None:
        if x.size == 0:
            return
        self.frames += x.shape[0]
        if self.peaks:
            self._peaks(x)
        filtered = self.k_filter(x)
        data: npt.NDArray[np.float64] = (
            np.concatenate([self.carry.astype(np.float64), filtered]) if self.carry.size
            else filtered)
        n = len(data) // self.sub
        if n:
            blocks = data[: n * self.sub].reshape(n, self.sub, self.channels)
            self.sub_energy.extend(np.mean(blocks**2, axis=1).sum(axis=1).tolist())
        self.carry = data[n * self.sub:].astype(np.float32)

    def _peaks(self, x: FloatArray) -> None:
        sp = float(np.max(np.abs(x)))
        self.sample_peak = max(self.sample_peak, sp)
        ext = np.concatenate([self.tp_tail, x])
        self.tp_tail = ext[-_TP_TAIL:]
        if sp * _TP_HEADROOM <= self.true_peak:
            return  # nothing in this chunk can raise the true peak
        threshold = max(self.true_peak, sp) / _TP_HEADROOM
        for c in range(self.channels):
            col = np.ascontiguousarray(ext[:, c])
            self.true_peak = max(self.true_peak, sp, _oversampled_peak(col, threshold))

    def silent_fraction(self, below_lufs: float) -> float:
        """The share of whole seconds whose loudness (K-weighted, ungated) is below
        `below_lufs`: 1.0 when not one second was metered."""
        e = np.asarray(self.sub_energy)
        n = len(e) // 10
        if n == 0:
            return 1.0
        seconds = e[: n * 10].reshape(n, 10).mean(axis=1)
        return float(np.mean(_lufs(seconds) < below_lufs))

    def result(self) -> Loudness:
        e = np.asarray(self.sub_energy)
        n_blocks = len(e) - 3
        if n_blocks > 0:
            block = (e[:-3] + e[1:-2] + e[2:-1] + e[3:]) / 4  # 400 ms, 75 % overlap
            integrated, gated = _gated_mean(block, relative_lu=10.0)
        else:
            integrated, gated = -math.inf, 0
        lra = 0.0
        if len(e) >= 30:
            kernel = np.ones(30) / 30
            short = np.convolve(e, kernel, mode="valid")  # 3 s windows every 100 ms
            lra = _lra(short)
        return Loudness(
            integrated_lufs=integrated,
            lra_lu=lra,
            true_peak_dbtp=_db(self.true_peak),
            sample_peak_dbfs=_db(self.sample_peak),
            duration_s=self.frames / self.fs,
            gated_blocks=gated,
        )


def _db(x: float) -> float:
    return 20 * math.log10(x) if x > 0 else -math.inf


def _lufs(energy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        result: npt.NDArray[np.float64] = -0.691 + 10 * np.log10(energy)
    return result


def _gated_mean(block: npt.NDArray[np.float64], relative_lu: float) -> tuple[float, int]:
    loud = _lufs(block)
    above_abs = block[loud > -70.0]
    if above_abs.size == 0:
        return -math.inf, 0
    rel_gate = float(_lufs(np.array([above_abs.mean()]))[0]) - relative_lu
    final = block[(loud > -70.0) & (loud > rel_gate)]
    if final.size == 0:
        return -math.inf, 0
    return float(_lufs(np.array([final.mean()]))[0]), int(final.size)


def _lra(short: npt.NDArray[np.float64]) -> float:
    loud = _lufs(short)
    above = short[loud > -70.0]
    if above.size == 0:
        return 0.0
    rel = float(_lufs(np.array([above.mean()]))[0]) - 20.0
    kept = loud[(loud > -70.0) & (loud > rel)]
    if kept.size < 2:
        return 0.0
    lo, hi = np.percentile(kept, [10, 95])
    return float(hi - lo)


def feed_stream(meter: LoudnessMeter, stream: IO[bytes]) -> None:
    """Feed little-endian float32 PCM from `stream` until it ends, a second or two at a time."""
    frame = 4 * meter.channels
    pending = b""
    while block := stream.read(meter.fs * frame * 2):
        pending += block
        usable = len(pending) - len(pending) % frame
        meter.feed(np.frombuffer(pending[:usable], dtype="<f4").reshape(-1, meter.channels))
        pending = pending[usable:]

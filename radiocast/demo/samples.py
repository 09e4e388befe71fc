"""The demo's sample programmes, and the files staff might drop by mistake beside them."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click

from radiocast.app import App
from radiocast.audio.ffmpeg import find_ffmpeg
from radiocast.core.i18n import t
from radiocast.core.models import ProgrammeState
from radiocast.db.schema import Programme

SAMPLES = [  # not-ui
    ("chuyen-doi-so-thang-nay.mp3", "Chuyển đổi số tháng này"),
    ("thanh-toan-khong-dung-tien-mat.mp3", "Thanh toán không dùng tiền mặt"),
    ("an-toan-thong-tin.mp3", "An toàn thông tin")]
# the files a member of staff might drop by mistake: a copy under another name, a text file
DUPLICATE, BROKEN, BROKEN_TEXT = (  # not-ui
    "Bản sao gửi nhầm.mp3", "Bản tin hỏng.mp3", "Đây không phải tệp âm thanh.\n")
THAI_TAG = "[thai]"  # not-ui: a file name's language tag


def samples_dir() -> Path | None:
    here = Path(__file__).resolve().parents[1] / "audio_samples"
    return here if (here / SAMPLES[0][0]).exists() else None


def synth_sample(dst: Path, seconds: int, freq: int) -> None:
    """Fallback when the package is installed without the repository's audio_samples/."""
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={freq}:duration={seconds}", "-f", "lavfi", "-i",
                    f"anoisesrc=color=pink:duration={seconds}:amplitude=0.05",
                    "-filter_complex", "amix=inputs=2", "-ac", "1", "-b:a", "64k", str(dst)],
                   check=True)


@dataclass
class Later:
    """Files the Monitor drops once an earlier one has been taken, as staff would: the copy
    saved again under another name (once the original is a programme, so it is the copy that
    is the duplicate, whichever the watcher would have seen first), and a programme's Thái
    version (once the Vietnamese one is ready: dropped together, whichever was ready first
    would make the premiere)."""

    duplicate: tuple[Path, Path] | None  # (the original's bytes, kept aside; the drop name)
    thai: Path | None  # where the Thái version goes (stations airing Thái exist)

    def drop_due(self, progs: list[Programme]) -> None:
        """Drop what the programmes so far call for."""
        first = [p for p in progs if p.title == SAMPLES[0][1]]
        if self.duplicate is not None and first:
            shutil.move(*self.duplicate)  # the original is a programme: the copy now
            self.duplicate = None
        if self.thai is not None and any(p.state == ProgrammeState.READY.value for p in first):
            synth_sample(self.thai, 18, 440)  # the Vietnamese one is ready: add it
            self.thai = None


def drop_samples(app: App, month: str, aside: Path) -> Later:
    """The sample programmes and a broken file into the drop folder; the rest for later."""
    drop = app.settings.ingest.drop_dir
    drop.mkdir(parents=True, exist_ok=True)
    src = samples_dir()
    for i, (fname, title) in enumerate(SAMPLES):
        dst = drop / f"{month} {title}.mp3"
        if src is not None:
            shutil.copy(src / fname, dst)
        else:
            synth_sample(dst, 15 + 5 * i, 300 + 100 * i)
    aside.mkdir(parents=True, exist_ok=True)
    kept = shutil.copy(drop / f"{month} {SAMPLES[0][1]}.mp3", aside / DUPLICATE)
    (drop / f"{month} {BROKEN}").write_text(BROKEN_TEXT, encoding="utf-8")  # quarantined
    later = Later(duplicate=(Path(kept), drop / DUPLICATE), thai=None)
    thai = [st.id for st in app.settings.stations if "blt" in st.languages]
    if thai:
        click.echo(t("demo.versions", app.lang, stations=", ".join(thai), title=SAMPLES[0][1],
                     tag=THAI_TAG))
        later.thai = drop / f"{month} {SAMPLES[0][1]} {THAI_TAG}.mp3"
    return later

"""A file sent from the browser lands in the drop folder: written under a hidden temporary name
(the drop folder's watcher skips those), its type sniffed from its first bytes, its size
capped, its name reduced to a plain file name (no folder the client names), then renamed in.
From there it follows the same path as a file staff save: ingest, receipt or quarantine note."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radiocast.core.fsutil import fsync_dir, unique_path

MAX_BYTES = 1 << 30  # 1 GiB: an hour of WAV is 635 MB
CHUNK = 1 << 20
KINDS = {".mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa"),
         ".wav": (b"RIFF",), ".flac": (b"fLaC",), ".ogg": (b"OggS",), ".m4a": (b"ftyp",)}
UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


class UploadRefused(Exception):
    """Not taken: the reason is a catalogue key (`web.upload_*`)."""


@dataclass(frozen=True)
class Uploaded:
    path: Path
    sha256: str
    size: int


def safe_name(client_name: str, suffix: str) -> str:
    """The client's file name, reduced to a plain name: the last part only, no control or
    reserved characters, NFC, at most 150 characters, with the sniffed type's suffix."""
    base = client_name.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", UNSAFE.sub(" ", base)).strip(" .")
    stem = base[: -len(Path(base).suffix)] if Path(base).suffix else base
    stem = re.sub(r"\s+", " ", stem).strip()[:150] or "tep-tai-len"
    return stem + suffix


def sniff(head: bytes) -> str | None:
    for suffix, magics in KINDS.items():
        if suffix == ".m4a":
            if head[4:8] == b"ftyp":
                return suffix
        elif any(head.startswith(m) for m in magics):
            return suffix
    return None


async def receive(upload: Any, drop_dir: Path) -> Uploaded:
    """Stream the form's file into the drop folder; UploadRefused when it is not audio, too
    big or empty. The partial file never stays behind."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    tmp = drop_dir / f".upload-{secrets.token_hex(8)}.part"
    digest, size, suffix = hashlib.sha256(), 0, None
    try:
        with open(tmp, "xb") as fh:
            while chunk := await upload.read(CHUNK):
                if suffix is None:
                    suffix = sniff(chunk[:16])
                    if suffix is None:
                        raise UploadRefused("web.upload_not_audio")
                size += len(chunk)
                if size > MAX_BYTES:
                    raise UploadRefused("web.upload_too_big")
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if suffix is None:
            raise UploadRefused("web.upload_empty")
        final = unique_path(drop_dir / safe_name(str(upload.filename or ""), suffix))
        os.rename(tmp, final)
        fsync_dir(drop_dir)
        return Uploaded(final, digest.hexdigest(), size)
    finally:
        tmp.unlink(missing_ok=True)

"""`[report]`: how the compliance report is headed and signed, laid out like the
administrative documents the culture centre already sends (Nghị định 30/2020/NĐ-CP): the
governing body and the sender top left, the national motto top right, number, place and
date, title, addressee, and at the end `Nơi nhận` and the signer's title and name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportSettings:
    parent: str = "UBND HUYỆN QUAN SƠN"  # the governing body, above the sender
    number: str = "     /BC-TTVH"  # "Số: …"; the number is written in by hand when blank
    place: str = "Quan Sơn"  # "Quan Sơn, ngày … tháng … năm …"
    title: str = ""  # blank: the catalogue's title for the report in the chosen language
    recipient: str = "Ủy ban nhân dân huyện Quan Sơn (qua phòng Văn hóa và Thông tin)"
    copies_to: tuple[str, ...] = ("Như trên;", "Lưu: VT.")  # "Nơi nhận"
    signer_title: str = "GIÁM ĐỐC"
    signer_name: str = ""
    font_file: Path | None = None  # a TTF with Vietnamese glyphs; blank: Noto Serif (shipped)

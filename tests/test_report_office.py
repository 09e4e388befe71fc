"""The report files as people open them: LibreOffice (headless) opens the XLSX and the PDF and
prints them to PDF, poppler reads the text and draws the first page. Also the period titles
and the one-page summary of a whole province."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from radiocast.app import App
from radiocast.report.build import build_report
from radiocast.report.files import render_report
from radiocast.report.words import period_title

from .test_report import year  # noqa: F401 - the module's fixture: a year of airings


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: scripts/test installs it")
        pytest.skip(f"{name} is not installed (scripts/test installs it)")
    return path


# the part of LibreOffice that opens each kind of file: its library, and the Debian package
OFFICE_PARTS = {".pdf": ("libsdlo.so", "libreoffice-draw-nogui"),
                ".xlsx": ("libsclo.so", "libreoffice-calc-nogui")}


def office_part(soffice: str, suffix: str) -> None:
    """Fail (in CI) or skip, naming the package, when the part of LibreOffice that opens
    `suffix` files is missing: soffice alone says nothing about Draw or Calc."""
    lib, package = OFFICE_PARTS[suffix]
    if not (Path(os.path.realpath(soffice)).parent / lib).exists():
        message = f"LibreOffice cannot open {suffix} files here: install {package}"
        if os.environ.get("CI"):
            pytest.fail(message + " (scripts/test installs it)")
        pytest.skip(message)


def office_print(path: Path, tmp: Path) -> tuple[str, int]:
    """LibreOffice opens `path` and prints it to PDF; returns that PDF's text and pages, and
    leaves its first page as PNG beside it."""
    soffice, pdftotext, pdftoppm = _tool("soffice"), _tool("pdftotext"), _tool("pdftoppm")
    office_part(soffice, path.suffix)
    out = tmp / f"printed-{path.stem}"
    fmt = "pdf:draw_pdf_Export" if path.suffix == ".pdf" else "pdf"
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp}/lo-profile",
                    "--convert-to", fmt, "--outdir", str(out), str(path)],
                   check=True, capture_output=True, timeout=300)
    printed = out / f"{path.stem}.pdf"
    assert printed.stat().st_size > 1000
    subprocess.run([pdftoppm, "-png", "-r", "40", "-f", "1", "-l", "1", str(printed),
                    str(out / "page")], check=True, timeout=120)
    assert any(p.stat().st_size > 1000 for p in out.glob("page*.png"))
    text = subprocess.run([pdftotext, "-layout", str(printed), "-"], check=True,
                          capture_output=True, text=True, timeout=120).stdout
    info = subprocess.run([_tool("pdfinfo"), str(printed)], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines()
                     if line.startswith("Pages:")))
    return " ".join(text.split()), pages


def test_the_xlsx_opens_in_libreoffice_with_vietnamese_headers(year: App,  # noqa: F811
                                                               tmp_path: Path) -> None:
    path = tmp_path / "bao-cao-2025.xlsx"
    path.write_bytes(render_report(build_report(year, "2025"), "xlsx", "vi"))
    text, pages = office_print(path, tmp_path)
    for words in ("Báo cáo năm 2025", "Mã đài", "Tên đài", "Số tháng đạt", "Không đạt",
                  "Phát lần đầu", "Số lần phát lại", "Căn cứ xác nhận", "Giờ theo lịch",
                  "Xã Sơn Điện", "phát lần đầu", "Trang 1/"):
        assert words in text, words
    assert pages >= 3  # summary, detail and the airings, each fitted to the page width


def test_the_pdf_is_one_page_laid_out_like_an_official_report(year: App,  # noqa: F811
                                                               tmp_path: Path) -> None:
    data = build_report(year, "2025")
    data["document"]["signer_name"] = "Nguyễn Thị Hằng"
    path = tmp_path / "bao-cao-2025.pdf"
    path.write_bytes(render_report(data, "pdf", "vi"))
    assert path.read_bytes().startswith(b"%PDF")
    text, pages = office_print(path, tmp_path)
    assert pages == 1
    for words in ("UBND HUYỆN QUAN SƠN", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                  "Độc lập - Tự do - Hạnh phúc", "Quan Sơn, ngày", "BÁO CÁO", "năm 2025",
                  "Kính gửi:", "phát lại ít nhất 3 lần/tháng", "23/24", "95,8%", "09/2025",
                  "50%", "Xã Sơn Điện (1)", "Nơi nhận:", "Như trên;", "GIÁM ĐỐC",
                  "Nguyễn Thị Hằng"):
        assert words in text, words
    fonts = subprocess.run([_tool("pdffonts"), str(path)], check=True, capture_output=True,
                           text=True).stdout
    assert "NotoSerif" in fonts and " no " not in fonts.split("\n", 2)[2]  # all embedded


def test_the_english_pdf_is_english(year: App, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "report-2025-H2.pdf"
    path.write_bytes(render_report(build_report(year, "2025-H2"), "pdf", "en"))
    text, pages = office_print(path, tmp_path)
    assert pages == 1
    for words in ("SOCIALIST REPUBLIC OF VIETNAM", "REPORT", "the second half of 2025",
                  "To:", "Copies to:", "Met", "Not met"):
        assert words in text, words
    for word in ("Kính gửi", "Nơi nhận", "tháng", "Đạt"):
        assert word not in text, word


def _province(n: int) -> dict[str, Any]:
    """A year's report data for `n` stations, every tenth short in June (no database)."""
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    stations = [{"station_id": f"xa-{i:03d}", "name": f"Xã số {i}", "months": [
        {"month": m, "programme_ids": [k + 1], "delivered": True,
         "premiere_at": f"{m}-03T06:00:00+07:00", "replays_aired": 3, "makeups": 0,
         "missed": 0, "minutes_aired": 60.0, "compliant": not (i % 10 == 0 and k == 5)}
        for k, m in enumerate(months)]} for i in range(n)]
    cells = [c for st in stations for c in st["months"]]
    for c in cells:
        c["status"] = "met" if c["compliant"] else "not_met"
    ok = sum(c["compliant"] for c in cells)
    return {"period": "2026", "months": months, "sender": "Trung tâm Văn hóa huyện",
            "document": {"parent": "UBND TỈNH THANH HÓA", "sender": "Sở Văn hóa",
                         "number": "12/BC-SVH", "place": "Thanh Hóa", "title": "",
                         "recipient": "Ủy ban nhân dân tỉnh", "copies_to": ["Lưu: VT."],
                         "signer_title": "KT. GIÁM ĐỐC\nPHÓ GIÁM ĐỐC", "signer_name": "",
                         "font_file": None},
            "generated_at": "2026-12-31T17:00:00+07:00", "replays_required": 3,
            "stations": stations,
            "totals": {"station_months": len(cells), "compliant": ok,
                       "not_met": len(cells) - ok, "in_progress": 0, "at_risk": 0,
                       "compliance_rate": ok / len(cells), "airings_aired": 4 * ok,
                       "airings_missed": len(cells) - ok, "airings_unconfirmed": 0,
                       "airings_planned": 4 * len(cells),
                       "aired_by_language": {"vi": 3 * ok, "blt": ok}},
            "languages": {"vi": "Tiếng Việt", "blt": "Tiếng Thái (Thái Đen)"},
            "programmes": [], "airings": []}


def test_a_province_summary_still_fits_one_page(tmp_path: Path) -> None:
    path = tmp_path / "tinh.pdf"
    path.write_bytes(render_report(_province(600), "pdf", "vi"))
    text, pages = office_print(path, tmp_path)
    assert pages == 1
    assert "7.140/7.200" in text and "99,2%" in text  # 7,140 of 7,200 station-months
    assert "Xã số 590 (1)" in text and "… và 48 mục khác" in text
    assert "PHÓ GIÁM ĐỐC" in text
    assert "theo ngôn ngữ: Tiếng Việt 21.420; Tiếng Thái (Thái Đen) 7.140" in " ".join(
        text.split())


@pytest.mark.parametrize(("period", "vi", "en"), [
    ("2026-11", "tháng 11/2026", "11/2026"),
    ("2026-H1", "6 tháng đầu năm 2026", "the first half of 2026"),
    ("2026-H2", "6 tháng cuối năm 2026", "the second half of 2026"),
    ("2026", "năm 2026", "the year 2026"),
    ("01/03/2026–15/04/2026", "từ ngày 01/03/2026 đến ngày 15/04/2026",
     "01/03/2026 to 15/04/2026"),
])
def test_period_titles(period: str, vi: str, en: str) -> None:
    assert period_title(period, "vi") == vi and period_title(period, "en") == en


def test_a_missing_part_of_libreoffice_is_named(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with Calc and without Draw: the PDF tests say which package is missing."""
    program = tmp_path / "program"
    program.mkdir()
    (program / "soffice").write_text("")
    (program / "libsclo.so").write_text("")  # Calc is there, Draw is not
    office_part(str(program / "soffice"), ".xlsx")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="install libreoffice-draw-nogui"):
        office_part(str(program / "soffice"), ".pdf")

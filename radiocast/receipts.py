"""The plain-Vietnamese (and English) notes staff find beside their files."""

from __future__ import annotations

from datetime import datetime

# code -> (what is wrong, what to do) in Vietnamese, then English
REASONS: dict[str, tuple[str, str, str, str]] = {
    "empty": ("Tệp rỗng (0 byte), không có nội dung.",
              "Hãy sao chép lại tệp từ máy gốc rồi chép vào thư mục một lần nữa.",
              "The file is empty (0 bytes).", "Copy the file again from its source."),
    "undecodable": ("Tệp không phải là tệp âm thanh đọc được, hoặc đã bị hỏng.",
                    "Hãy mở thử tệp trên máy tính; nếu nghe được, xuất lại sang MP3 hoặc WAV "
                    "rồi chép vào thư mục.",
                    "The file is not readable audio, or it is damaged.",
                    "Open it on a computer; if it plays, export it again as MP3 or WAV."),
    "no_audio": ("Tệp không có tiếng (không có luồng âm thanh).",
                 "Hãy kiểm tra lại tệp, xuất lại có kèm âm thanh.",
                 "The file has no audio stream.", "Export it again with its sound."),
    "truncated": ("Tệp bị cắt cụt: chỉ đọc được một phần, có thể do sao chép chưa xong.",
                  "Hãy sao chép lại toàn bộ tệp rồi chép vào thư mục.",
                  "The file is truncated: only part of it can be read.",
                  "Copy the whole file again."),
    "silent": ("Tệp chỉ có im lặng, không nghe thấy nội dung.",
               "Hãy kiểm tra bản thu, xuất lại tệp có tiếng rồi chép vào thư mục.",
               "The file contains only silence.", "Check the recording and export it again."),
    "too_short": ("Tệp quá ngắn so với thời lượng tối thiểu của một chương trình (xem chi "
                  "tiết kỹ thuật bên dưới).",
                  "Hãy kiểm tra đã chọn đúng tệp chương trình chưa.",
                  "The file is shorter than the minimum length of a programme (see the "
                  "technical detail).",
                  "Check that this is the right file."),
    "too_long": ("Chương trình dài hơn khung giờ phát dài nhất của các đài.",
                 "Hãy cắt ngắn chương trình, hoặc báo cán bộ kỹ thuật mở rộng khung giờ phát.",
                 "The programme is longer than the longest airing window.",
                 "Shorten it, or ask the operator to widen the airing windows."),
    "sidecar": ("Tệp mô tả đi kèm (.toml) có lỗi.",
                "Hãy sửa tệp .toml theo hướng dẫn rồi chép cả hai tệp vào thư mục lần nữa.",
                "The accompanying .toml description has an error.",
                "Fix the .toml file and drop both files again."),
    "orphan_sidecar": ("Tệp mô tả (.toml) không có tệp âm thanh cùng tên đi kèm.",
                       "Hãy chép tệp âm thanh cùng tên vào thư mục cùng lúc.",
                       "This .toml description has no audio file of the same name.",
                       "Drop the audio file of the same name with it."),
    "not_a_file": ("Đây không phải là một tệp âm thanh thật mà là một lối tắt (liên kết) "
                   "hoặc tệp đặc biệt của hệ thống; phần mềm không mở loại tệp này.",
                   "Hãy chép chính tệp âm thanh (không phải lối tắt) vào thư mục.",
                   "This is not an audio file but a shortcut (link) or a special system file; "
                   "radiocast does not open those.",
                   "Copy the audio file itself (not a shortcut) into the folder."),
    "past_month": ("Tháng phát ghi trong tên tệp (hoặc tệp .toml) đã qua, nên chương trình "
                   "không được gửi đi.",
                   "Nếu đây là chương trình của tháng này, hãy đổi tên tệp cho đúng tháng "
                   "(ví dụ 2026-11 Chuyển đổi số.mp3) rồi chép lại vào thư mục.",
                   "The month in the file name (or .toml) is already over, so the programme is "
                   "not sent.",
                   "If it is this month's programme, rename it with the right month and copy "
                   "it again."),
    "verify_failed": ("Không chuẩn hóa được âm lượng của tệp đúng yêu cầu.",
                      "Hãy báo cán bộ kỹ thuật; có thể xuất lại tệp với chất lượng cao hơn.",
                      "The file could not be normalized to the required loudness.",
                      "Tell the operator; exporting at a higher quality may help."),
    "encode_failed": ("Không chuyển đổi được tệp sang định dạng phát.",
                      "Hãy báo cán bộ kỹ thuật.",
                      "The file could not be converted to the station format.",
                      "Tell the operator."),
    "internal": ("Lỗi trong phần mềm khi xử lý tệp.", "Hãy báo cán bộ kỹ thuật.",
                 "radiocast failed while processing the file.", "Tell the operator."),
}


def reason_text(code: str) -> str:
    """One line, Vietnamese, for the programme row and the CLI."""
    return REASONS.get(code, REASONS["internal"])[0]


def rejection_note(name: str, code: str, detail: str, at: datetime) -> str:
    vi_what, vi_do, en_what, en_do = REASONS.get(code, REASONS["internal"])
    return (
        f"TỆP BỊ TỪ CHỐI: {name}\n"
        f"Thời gian: {at:%d/%m/%Y %H:%M}\n\n"
        f"Lý do: {vi_what}\n"
        f"Cần làm: {vi_do}\n"
        f"Chi tiết kỹ thuật: {detail or '-'}\n\n"
        "Tệp gốc vẫn được giữ nguyên trong thư mục này.\n\n"
        "----\n"
        f"REJECTED: {name}\nReason: {en_what}\nWhat to do: {en_do}\n"
        f"Technical detail: {detail or '-'}\n"
    )


def acceptance_note(name: str, title: str, month: str, duration_s: float | None,
                    at: datetime, programme_id: int, revision: int) -> str:
    mm, yyyy = month[5:7], month[:4]
    dur = f"{int(duration_s // 60)} phút {int(duration_s % 60)} giây" if duration_s else "-"
    # revision 2 is the first correction of the programme
    rev = f" (bản sửa lần {revision - 1}, thay bản trước)" if revision > 1 else ""
    return (
        f"BIÊN NHẬN: {name}\n"
        f"Đã nhận lúc: {at:%d/%m/%Y %H:%M}\n"
        f"Tên chương trình: {title}{rev}\n"
        f"Tháng phát: {mm}/{yyyy}\n"
        f"Thời lượng: {dur}\n"
        f"Mã chương trình: #{programme_id}\n"
        "Chương trình sẽ được gửi tới các đài truyền thanh cấp xã (xã, phường, thị trấn) "
        "và phát theo lịch.\n\n"
        "----\n"
        f"RECEIPT: accepted as programme #{programme_id} for {month}.\n"
    )


def duplicate_note(name: str, programme_id: int, title: str, at: datetime) -> str:
    return (
        f"TỆP TRÙNG: {name}\n"
        f"Thời gian: {at:%d/%m/%Y %H:%M}\n"
        f"Nội dung tệp này giống hệt chương trình đã nhận #{programme_id} ({title}).\n"
        "Không cần làm gì thêm; tệp không được nhận lần thứ hai.\n\n"
        "----\n"
        f"DUPLICATE: same content as programme #{programme_id}; not imported again.\n"
    )

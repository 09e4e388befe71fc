"""A small message catalogue: Vietnamese (default) and English."""

from __future__ import annotations

from typing import Any

# key -> (vi, en)
MESSAGES: dict[str, tuple[str, str]] = {
    "config_ok": ("Cấu hình hợp lệ: {path}", "Configuration is valid: {path}"),
    "db_ok": ("Cơ sở dữ liệu sẵn sàng (phiên bản {rev})", "Database ready (revision {rev})"),
    "ffmpeg_ok": ("Tìm thấy ffmpeg: {path}", "ffmpeg found: {path}"),
    "ffmpeg_missing": ("Không tìm thấy ffmpeg", "ffmpeg not found"),
    "dir_ok": ("Thư mục ghi được: {path}", "Folder writable: {path}"),
    "dir_bad": ("Không ghi được vào thư mục {path}: {err}", "Cannot write to {path}: {err}"),
    "station_ok": ("Đài {id}: kết nối được, khóa máy chủ đúng, ghi được vào {dir}",
                   "Station {id}: reachable, host key verified, {dir} writable"),
    "station_bad": ("Đài {id}: {err}", "Station {id}: {err}"),
    "check_failed": ("Có {n} vấn đề cần xử lý", "{n} problem(s) need attention"),
    "check_passed": ("Mọi kiểm tra đều đạt", "All checks passed"),
    "init_done": ("Đã tạo cấu hình mẫu {path}. Hãy sửa danh sách đài rồi chạy "
                  "`radiocast --config {path} check`.",
                  "Wrote a starter configuration {path}. Edit the stations, then run "
                  "`radiocast --config {path} check`."),
    "init_exists": ("{path} đã tồn tại; không ghi đè", "{path} already exists; not overwritten"),
    "locked": ("Một tiến trình radiocast khác đang chạy (khóa {path})",
               "Another radiocast daemon is running (lock {path})"),
    "no_programmes": ("Chưa có chương trình nào", "No programmes yet"),
    "no_deliveries": ("Chưa có lượt gửi nào", "No deliveries yet"),
    "no_airings": ("Chưa có lịch phát nào", "No airings planned"),
    "no_problems": ("Không có vấn đề nào", "No problems"),
    "retried": ("Đã đưa {n} lượt gửi trở lại hàng đợi", "{n} deliveries queued again"),
    "report_written": ("Đã ghi báo cáo: {path}", "Report written: {path}"),
    "no_data": ("Không có dữ liệu cho kỳ {period}", "No data for period {period}"),
    "enroll_show": ("Đài {id} ({host}:{port}) có khóa {type} với dấu vân tay {fp}",
                    "Station {id} ({host}:{port}) presents a {type} key, fingerprint {fp}"),
    "enroll_confirm": ("Ghi khóa này vào {path}?", "Record this key in {path}?"),
    "enroll_done": ("Đã ghi khóa của đài {id} vào {path}", "Recorded the key of {id} in {path}"),
    "enroll_declined": ("Không ghi khóa nào", "No key recorded"),
    "h_programmes": ("Chương trình", "Programmes"),
    "h_deliveries": ("Gửi tới các đài", "Deliveries"),
    "h_airings": ("Lịch phát sắp tới", "Next airings"),
    "h_problems": ("Vấn đề", "Problems"),
    "h_stations": ("Các đài", "Stations"),
    "station_init_done": ("Đã tạo cấu hình đài {path}. Sửa mã đài (id) cho đúng mã ở trung tâm, "
                          "rồi chạy `radiocast station --config {path} play-test`.",
                          "Wrote {path}. Set the station id the hub uses, then run "
                          "`radiocast station --config {path} play-test`."),
    "play_test_done": ("Đã phát thử xong. Nếu loa có tiếng, đường âm thanh hoạt động tốt.",
                       "Test tone played. If the speakers sounded, the audio path works."),
    "play_test_failed": ("Phát thử không được (mã {code}): {err}",
                         "The test tone did not play (exit {code}): {err}"),
    "station_no_heartbeat": ("Chưa có báo cáo của phần mềm đài trong {dir}: phần mềm đã chạy "
                             "chưa? (systemctl status radiocast-station)",
                             "No report from the agent in {dir}: is it running? "
                             "(systemctl status radiocast-station)"),
    "station_line_time": ("Đài {id} — giờ của máy: {time}", "Station {id} — station time: {time}"),
    "station_line_playbook": ("Lịch phát đang dùng: phiên bản {version}",
                              "Playbook in use: version {version}"),
    "station_line_files": ("Tệp chương trình: {ok} tốt, {missing} thiếu, {corrupt} hỏng",
                           "Programme files: {ok} good, {missing} missing, {corrupt} damaged"),
    "station_line_backlog": ("Kết quả phát chưa gửi về trung tâm: {n}",
                             "Airing records not yet received by the hub: {n}"),
    "station_line_last": ("Lượt phát gần nhất: #{id} {status}", "Last airing: #{id} {status}"),
    "station_line_error": ("Lỗi gần nhất: {err}", "Last error: {err}"),
    "hub_enroll_show": ("Máy chủ trung tâm {host}:{port} có khóa {type}, dấu vân tay {fp}. "
                        "Hãy gọi điện cho trung tâm để đối chiếu trước khi đồng ý.",
                        "The hub {host}:{port} presents a {type} key, fingerprint {fp}. "
                        "Compare it with the culture centre by phone before you accept."),
    "keygen_done": ("Đã tạo khóa {path}. Gửi dòng khóa công khai dưới đây cho trung tâm "
                    "(không gửi tệp khóa bí mật):",
                    "Made the key {path}. Send the public key line below to the hub "
                    "(never the private key file):"),
    "no_hub": ("Cấu hình đài chưa có mục [hub] (chỉ cần khi đài tự lấy chương trình về)",
               "The station's configuration has no [hub] (needed only for a pull station)"),
    "provision_done": ("Đã chuẩn bị thư mục cho đài {id} tại {root} (tài khoản {account})",
                       "Prepared the folders of {id} in {root} (account {account})"),
    "run_once_done": ("Đã xử lý xong việc đang chờ", "All pending work done"),
    "unknown_station": ("Không có đài nào mã {id} trong cấu hình (các mã hiện có: {known})",
                        "No station {id} in the configuration (ids: {known})"),
    "import_done": ("Đã cập nhật danh sách đài: thêm {created}, sửa {updated}, "
                    "giữ nguyên {unchanged}",
                    "Stations imported: {created} added, {updated} changed, "
                    "{unchanged} unchanged"),
    "import_dry_run": ("Kiểm tra xong, chưa ghi gì: sẽ thêm {created}, sửa {updated}, "
                       "giữ nguyên {unchanged}",
                       "Checked, nothing written: {created} to add, {updated} to change, "
                       "{unchanged} unchanged"),
}


def t(key: str, lang: str = "vi", **kwargs: Any) -> str:
    vi, en = MESSAGES[key]
    return (en if lang == "en" else vi).format(**kwargs)

"""Regenerate the sample programmes: Vietnamese speech (espeak-ng) over music beds (ffmpeg
synthesis), mixed with pydub through radiocast.audio, at deliberately different loudness.

Run from the repository root:  python audio_samples/make_samples.py
Needs espeak-ng and ffmpeg. The outputs are committed, so nobody else needs to run it.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from radiocast.audio.ffmpeg import find_ffmpeg
from radiocast.audio.mix import mix_programme

HERE = Path(__file__).resolve().parent

SAMPLES = [
    ("chuyen-doi-so-thang-nay.mp3",
     "Kính thưa bà con. Đây là chương trình chuyển đổi số của huyện Quan Sơn. "
     "Tháng này chúng tôi giới thiệu cách dùng dịch vụ công trực tuyến để làm thủ tục "
     "hành chính ngay tại nhà, không phải đi lại xa. Bà con hãy cài ứng dụng trên điện thoại "
     "và hỏi cán bộ xã khi cần giúp đỡ. Xin cảm ơn bà con đã lắng nghe.",
     "sine=frequency=220:sample_rate=44100,volume=0.3", -14.0, -6.0),
    ("thanh-toan-khong-dung-tien-mat.mp3",
     "Chuyên mục chuyển đổi số. Thanh toán không dùng tiền mặt giúp bà con mua bán "
     "nhanh hơn và an toàn hơn. Khi chuyển tiền, bà con cần kiểm tra kỹ tên người nhận, "
     "không chia sẻ mã xác thực cho bất kỳ ai. Cảnh giác với các cuộc gọi lừa đảo.",
     "anoisesrc=color=pink:sample_rate=44100:amplitude=0.2", -24.0, -18.0),
    ("an-toan-thong-tin.mp3",
     "Bản tin an toàn thông tin. Bà con không bấm vào đường dẫn lạ gửi qua tin nhắn. "
     "Hãy đặt mật khẩu mạnh cho tài khoản và bật xác thực hai lớp. "
     "Mọi thắc mắc xin liên hệ bộ phận một cửa của xã.",
     None, 0.0, -2.0),
]


def main() -> None:
    ff = find_ffmpeg()
    with tempfile.TemporaryDirectory() as tmp:
        for name, text, bed_src, bed_gain, speech_gain in SAMPLES:
            speech = Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-v", "vi", "-s", "140", "-w", str(speech), text],
                           check=True)
            bed = None
            if bed_src:
                bed = Path(tmp) / "bed.wav"
                subprocess.run([ff, "-v", "error", "-y", "-f", "lavfi", "-i",
                                f"{bed_src},atrim=duration=8", "-ac", "1", str(bed)],
                               check=True)
            mix_programme(speech, bed, HERE / name, bed_gain_db=bed_gain,
                          speech_gain_db=speech_gain)
            print("wrote", HERE / name)


if __name__ == "__main__":
    main()

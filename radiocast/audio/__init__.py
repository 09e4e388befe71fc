"""Audio: measure (BS.1770), normalize and verify a programme, through the one ffmpeg adapter."""

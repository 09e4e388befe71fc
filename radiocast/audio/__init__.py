"""Audio: the ffmpeg adapter, the BS.1770-4 meter, normalization, sample mixing."""

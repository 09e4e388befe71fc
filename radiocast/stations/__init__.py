"""Stations: the SSH/SFTP transport and fan-out delivery."""

"""Stations: the SSH/SFTP link (push) and the hub's outbox (pull), fan-out delivery, the
station roster, and setting a station up."""

"""Telling people about problems: incidents and notices, sending them with the dead-man
signal, and the metrics endpoint."""

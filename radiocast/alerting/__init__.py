"""Telling people about problems: incidents and notices (`notices`), sending them and the
dead-man signal (`send`), and the metrics endpoint (`exporter`)."""

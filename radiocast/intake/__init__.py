"""Intake: a file dropped into the folder becomes a programme stations may receive (watch,
claim, sidecar, normalize, revise), or lands in quarantine with a note in Vietnamese."""

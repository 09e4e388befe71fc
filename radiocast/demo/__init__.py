"""The demo: the whole job on this machine with simulated stations."""

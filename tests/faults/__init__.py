"""The fault-injection suite: one test per fault class, against real parts."""

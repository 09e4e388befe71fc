"""radiocast: carry the monthly radio programme to every commune station, air it, report it."""

__version__ = "0.1.0"

"""Status: what the hub believes now, as problems with their actions and the status document,
and that document as a screen of text for the command line, the demo and the web."""

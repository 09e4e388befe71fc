"""The command line, the operator's face: thin click commands that parse, call one service and
render; it also starts the other faces (the daemon, the demo, the station agent)."""

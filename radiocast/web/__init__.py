"""The web page for those away from the hub's terminal: district office, approvers, communes."""

"""The station agent, what a commune runs: it plays the month from its last good playbook with
no link to the hub and keeps proof of play that is never lost and never counted twice."""

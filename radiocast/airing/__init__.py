"""Airing: the pure planner, plan application, timed jobs, playout and playbooks."""

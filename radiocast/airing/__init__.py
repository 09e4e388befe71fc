"""Airing: plan each station's premiere and replays (a pure planner over its window data), turn
them into timed jobs and playbooks, air them and read back what aired."""

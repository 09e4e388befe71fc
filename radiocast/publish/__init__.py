"""The programme on the directive's other channels: podcast feed, pages, player, schedules."""

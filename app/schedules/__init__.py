"""Schedules: jobs submitted at the ticks of an interval or a cron expression, each tick claimed
once in the database however many schedulers run."""

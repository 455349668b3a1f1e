"""Rules: on an event do an action (chains, queue triggers, schedules)."""

"""Outbound campaigns: a list of leads called by an agent within a calling
window, with retries by outcome, run from the store (nothing is lost on restart)."""

"""Webhooks: call and campaign events, written to a durable outbox in the
store and delivered, signed, at least once (outbox.py, delivery.py, signing.py)."""

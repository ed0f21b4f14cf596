"""Models behind async interfaces: the synchronous model code runs in worker
threads, never on the event loop."""

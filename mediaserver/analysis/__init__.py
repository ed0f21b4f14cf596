"""Post-call analysis: a summary, a disposition, extracted fields and the
caller's sentiment, by the local LLM after the call (analyzer.py), on a
background worker that gives way to live calls (worker.py)."""

"""Turn-taking: endpointing, replies spoken clause by clause, barge-in, and
what the caller actually heard. Imports only frames, events and the clock."""

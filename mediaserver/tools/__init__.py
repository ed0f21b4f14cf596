"""Tools: agents that call the business's systems (spec, HTTP runner, SSRF guard)."""

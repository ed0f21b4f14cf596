"""An agent's knowledge base: documents parsed, chunked and embedded at
upload (ingest), searched during a call (index) through the conversation's
Knowledge port."""

"""Transports: where calls come from (SIP trunks, browsers) and how their
audio reaches a Session. They never import services."""

"""Answering-machine detection on outbound calls: is a person, a voicemail
greeting or a carrier's announcement on the line? (detector: the per-frame
classifier; policy: what the dialler asks for; listener: the async glue
that transcribes through the Speech port.) Imports frames, speech, native."""

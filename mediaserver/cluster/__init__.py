"""`serve --workers N`: a supervisor, the control process, media workers and a Kamailio edge."""

"""``stenod type``: dictation typed into the focused window."""

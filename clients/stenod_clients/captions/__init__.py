"""``stenod captions``: live captions of the daemon's events in an always-on-top overlay window."""

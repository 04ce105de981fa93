"""``stenod ime``: an IBus input method whose input is the daemon's dictation."""

"""Push-to-talk: a key held down makes the daemon listen; its release ends the utterance at once."""

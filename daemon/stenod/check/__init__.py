"""``stenod check``: does stenod hear the microphone? A level meter, the VAD, the model, and a verdict."""

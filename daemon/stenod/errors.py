"""Errors that carry a one-line message for the user."""


class StenodError(Exception):
    """Base class: the message is shown to the user as is."""


class ModelError(StenodError):
    """A model is missing, corrupt or unsupported."""


class AudioError(StenodError):
    """An audio input cannot be read."""

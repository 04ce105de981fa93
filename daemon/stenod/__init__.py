"""stenod: local real-time dictation with Whisper on ONNX Runtime."""

__version__ = "0.1.0"

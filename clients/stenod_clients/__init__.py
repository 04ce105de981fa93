"""Subscribers of the stenod daemon's WebSocket protocol."""

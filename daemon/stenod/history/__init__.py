"""The dictation history: the microphone's finals kept in a local SQLite file, to search and paste again."""

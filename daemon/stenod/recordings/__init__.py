"""Long recordings: cut by speech, decoded window by window, cleaned, written as text, Markdown or subtitles."""

"""The streaming core: pure, synchronous pieces that take audio frames and a clock and return events.

Audio everywhere inside stenod is mono float32 at ``SAMPLE_RATE``; time is counted in samples of it.
"""

SAMPLE_RATE = 16000

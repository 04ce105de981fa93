"""Streaming benchmark: latency and WER of the live pipeline on the dictation sessions.

See ``stenod bench stream -h``.
"""

import sys

from stenod.bench_stream import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Engine benchmark: stenod (fp32, int8) against faster-whisper (float32, int8). See ``stenod bench engine -h``."""

import sys

from stenod.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

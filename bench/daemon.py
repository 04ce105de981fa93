"""Daemon benchmark: idle cost, latency through a real sound server, fan-out. See ``stenod bench daemon -h``."""

import sys

from stenod.bench_daemon import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

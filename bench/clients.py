"""Clients benchmark: from the daemon's final to the text in a window, on the captions page and in tail.

See ``stenod bench clients -h``.
"""

import sys

from stenod.bench_clients import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

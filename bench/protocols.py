"""Protocols benchmark: the OpenAI-compatible endpoints and the LLM hook, each beside its peer.

See ``stenod bench protocols -h``.
"""

import sys

from stenod.bench_protocols import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

import sys

from stenod_bench import SUITES, run

if len(sys.argv) < 2 or sys.argv[1] not in SUITES:
    names = "\n".join(f"  {name:10} {summary}" for name, (_, summary) in SUITES.items())
    sys.exit(f"usage: python -m stenod_bench NAME [options]\n{names}")
sys.exit(run(sys.argv[1], sys.argv[2:]))

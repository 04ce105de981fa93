"""Coverage-guided fuzzing of every client message decoder (atheris).

Run: ``python tests/net/fuzz/fuzz_messages.py -runs=100000`` (``test_fuzz.py`` runs a bounded session). An input
may decode or raise ``ClientError``; anything else, a hang or too much memory is a finding.
"""

import sys
from urllib.parse import parse_qs

import atheris

with atheris.instrument_imports():
    from stenod.net.messages import (
        ClientError,
        decode_control,
        decode_events_query,
        decode_history_query,
        decode_listen,
        decode_listen_query,
    )


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 4)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    try:
        if choice == 0:
            decode_control(text)
        elif choice == 1:
            decode_listen(text)
        elif choice == 2:
            decode_listen(text.encode("utf-8", "surrogatepass"))
        elif choice == 3:
            decode_events_query(parse_qs(text, keep_blank_values=True))
        else:
            query = parse_qs(text, keep_blank_values=True)
            decode_listen_query(query)
            decode_history_query(query)
    except ClientError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

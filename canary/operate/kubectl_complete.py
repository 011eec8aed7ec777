"""`kubectl_complete-canary`: completion of `kubectl canary <TAB>` through kubectl (1.26 and on).

kubectl runs this executable with the words after `kubectl canary`, the last being the word
being completed, and reads one candidate per line, then a `:<directive>` line (cobra's protocol;
4 means "no file names"). The candidates come from the same argcomplete completion as
`canary completion`, through argcomplete's environment protocol.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

NO_FILE_COMPLETION = 4


def main(argv: Sequence[str] | None = None) -> int:
    from canary import cli

    words = list(sys.argv[1:] if argv is None else argv) or [""]
    line = " ".join(["canary", *map(shlex.quote, words[:-1]), words[-1]])
    with tempfile.TemporaryDirectory() as tmp:
        answer = os.path.join(tmp, "completions")
        os.environ.update(
            {
                "_ARGCOMPLETE": "1",
                "_ARGCOMPLETE_IFS": "\n",
                "_ARGCOMPLETE_STDOUT_FILENAME": answer,
                "COMP_LINE": line,
                "COMP_POINT": str(len(line)),
            }
        )
        with contextlib.suppress(SystemExit):  # argcomplete exits once it has answered
            cli.main([])
        found = Path(answer)
        candidates = found.read_text().split("\n") if found.exists() else []
    for candidate in candidates:
        if candidate.strip():
            print(candidate.strip())
    print(f":{NO_FILE_COMPLETION}")
    return 0

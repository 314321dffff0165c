"""`samviz-app`: start the Streamlit app from anywhere (a checkout or an installed package).

    samviz-app                          # = streamlit run <app.py> (samviz.paths.APP_SCRIPT)
    samviz-app --server.port 8502       # extra arguments go to `streamlit run`
"""
from __future__ import annotations

import os
import sys

from samviz.paths import APP_SCRIPT


def command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), *argv]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not APP_SCRIPT.is_file():
        print(f"samviz-app: the app's entry script is missing ({APP_SCRIPT}); reinstall samviz", file=sys.stderr)
        return 1
    os.execv(sys.executable, command(argv))     # streamlit takes over this process (signals, exit status)
    return 0   # not reached


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild this dev set's ``documents/`` with the shared ``bench/fields_dev/build.py``.

``python -m bench.fields --data <this folder>`` runs this file when a document is missing.
"""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.argv = [str(HERE.parent / "build.py"), "--set", HERE.name, *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")

"""``python -m healthgauge``: the same commands as the ``healthgauge`` launcher."""

import sys

from healthgauge.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

import sys

from oculi.cli import main

sys.exit(main())

import sys

from e3gen.cli import main

sys.exit(main())

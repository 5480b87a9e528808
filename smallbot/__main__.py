import sys

from smallbot.cli import main

sys.exit(main())

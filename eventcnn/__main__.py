"""``python -m eventcnn`` runs the command line."""

import sys

from eventcnn.cli import main

sys.exit(main())

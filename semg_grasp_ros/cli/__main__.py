"""``python -m semg_grasp_ros.cli``: the ``semg-grasp`` command."""

import sys

from . import main

sys.exit(main())

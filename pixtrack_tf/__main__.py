"""``python -m pixtrack_tf <command> [options]``: the ``pixtrack`` command (:mod:`pixtrack_tf.cli`)."""

import sys

from pixtrack_tf.cli import main

sys.exit(main())

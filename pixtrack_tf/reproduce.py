"""``python -m pixtrack_tf.reproduce [options]``: the main job, ``pixtrack reproduce`` by the name users
of this reproduction are told to run (:mod:`pixtrack_tf.cli.reproduce`)."""

import sys

from pixtrack_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))

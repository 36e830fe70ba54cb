"""``python -m pixtrack_tf.track``: the command lives in :mod:`pixtrack_tf.cli.track`."""

if __name__ == "__main__":
    import sys

    from pixtrack_tf.cli.track import main

    sys.exit(main())

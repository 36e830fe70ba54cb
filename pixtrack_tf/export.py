"""``python -m pixtrack_tf.export``: the command lives in :mod:`pixtrack_tf.cli.export`."""

if __name__ == "__main__":
    import sys

    from pixtrack_tf.cli.export import main

    sys.exit(main())

"""``python -m pixtrack_tf.reproduce``: the command lives in :mod:`pixtrack_tf.cli.reproduce`."""

if __name__ == "__main__":
    import sys

    from pixtrack_tf.cli.reproduce import main

    sys.exit(main())

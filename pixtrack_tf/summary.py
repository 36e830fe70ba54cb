"""``python -m pixtrack_tf.summary``: the command lives in :mod:`pixtrack_tf.cli.summary`."""

if __name__ == "__main__":
    import sys

    from pixtrack_tf.cli.summary import main

    sys.exit(main())

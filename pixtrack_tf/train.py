"""``python -m pixtrack_tf.train``: the command lives in :mod:`pixtrack_tf.cli.train`."""

if __name__ == "__main__":
    import sys

    from pixtrack_tf.cli.train import main

    sys.exit(main())

"""``python -m pixtrack_tf.bench``: the command lives in :mod:`pixtrack_tf.cli.bench`."""

if __name__ == "__main__":
    import sys

    from pixtrack_tf.cli.bench import main

    sys.exit(main())

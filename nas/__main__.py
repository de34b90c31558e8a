"""`python -m nas`, as the `nas` command (torchrun starts ranks this way: `torchrun ... -m nas search`)."""

from nas.cli import entry

if __name__ == "__main__":
    entry()

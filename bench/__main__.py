"""``python -m bench``: the same command line as the ``bench`` script (and what ``accelerate launch -m bench`` runs)."""

from bench.cli import main

if __name__ == "__main__":
    main(prog_name="bench")

"""`python -m autorouter.cli`: the `autorouter` command."""

from autorouter.cli import main

if __name__ == "__main__":
    main()

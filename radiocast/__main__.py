"""`python -m radiocast` entry point."""

from radiocast.cli.main import main

if __name__ == "__main__":
    main()

"""`python -m radiocast` entry point."""

from radiocast.cli import main

if __name__ == "__main__":
    main()

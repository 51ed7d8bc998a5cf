"""`python -m rsq` runs the CLI."""

from rsq.cli import main

main()

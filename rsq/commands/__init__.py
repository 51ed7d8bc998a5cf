"""CLI command groups; each module holds one noun group or pipeline verb."""

"""Post-mortem publishers: a folder, a git branch, a GitHub pull request."""

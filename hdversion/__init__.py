"""hdversion: verified backup and recovery of a DVC project's ML artifacts, on DVC and git."""

# Semantic versioning; while CHANGELOG.md's top section is "X.Y.Z (unreleased)" this is
# X.Y.Z.dev0, and a release drops both marks (docs/api.md, "Stability").
__version__ = "0.2.0.dev0"

"""The seam to git: the only package that imports GitPython."""

from hdversion.gitrepo.repo import GitRepo, TagRecord

__all__ = ["GitRepo", "TagRecord"]

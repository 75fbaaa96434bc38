"""The seam to git: the only package that runs git (as a subprocess: no GitPython, whose
import alone costs more than reading a thousand backup tags)."""

from hdversion.gitrepo.repo import GitRepo, TagRecord

__all__ = ["GitRepo", "TagRecord"]

"""The git ref namespaces of hdversion's records beside the backup tags, in a module of
their own: `list --json` names them without loading the records' models."""

PIN_NAMESPACE = "refs/hdversion/pins/"
# A pruned backup leaves a tombstone `refs/hdversion/pruned/<timestamp>` here and on the git
# remote: another clone that still has the tag deletes it on its next fetch instead of
# pushing it back (its data is gone).
PRUNED_NAMESPACE = "refs/hdversion/pruned/"
# ... and keeps its tag object reachable (here, on the git remote, in every clone that
# fetches) under `refs/hdversion/deleted/<timestamp>`: what `undelete` puts back, exactly.
DELETED_NAMESPACE = "refs/hdversion/deleted/"
ALIAS_NAMESPACE = "refs/hdversion/aliases/"

"""Every path hdversion uses by default, relative to the repository root, in one place."""

from __future__ import annotations

# hdversion's settings: its own file, found first, else the protected project's config file
# (config/settings_file.py); and cloud secrets.
OWN_CONFIG_PATH = ".hdversion.yaml"
CONFIG_PATH = "config/config.yaml"
CREDENTIALS_PATH = "config/cloud_credentials.json"

# Files backed up through git when the settings do not name them; a default that the
# repository lacks is skipped (any DVC repository works), a file named in the settings is not.
DEFAULT_GIT_TRACKED = ("config/config.yaml", "params.yaml", "dvc.yaml")
# The metric of `list`'s column and `report`'s chart unless `list.metric` in the settings
# names another (this project's; a repository without it shows no metric column).
DEFAULT_METRIC = "ensemble.roc_auc"

# The embedded default local remote: a DVC remote of this name, or else this directory.
DEFAULT_LOCAL_REMOTE = "local"
LOCAL_REMOTE_DIR = "backups"

JOURNAL = "logs/hdversion.jsonl"

# hdversion's own state, inside DVC's tmp directory (never tracked, never pushed).
LOCK = ".dvc/tmp/hdversion.lock"
PAUSE_MARKER = ".dvc/tmp/hdversion-paused"
QUARANTINE = ".dvc/tmp/hdversion-quarantine"
# A digest of the outputs' file stats when a backup last had DVC hash them all.
HASHED_STATS = ".dvc/tmp/hdversion-hashed-stats"
# The remotes this clone opened encrypted (datastore/encryption_memory.py).
ENCRYPTED_REMOTES = ".dvc/tmp/hdversion-encrypted-remotes.json"
GCS_UPLOADS = ".dvc/tmp/hdversion-gcs-uploads"

# Files staged beside their targets before an atomic rename.
TEMP_PREFIX = ".hdversion-tmp-"

# The complete per-file list of a version-2 backup, inside the backup commit's tree.
FILE_LIST = ".hdversion/manifest.json"

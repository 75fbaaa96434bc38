#!/usr/bin/env bash
# The main job on the embedded default (synthetic data, local remote in ./backups):
# train -> back up -> damage a model -> list -> restore -> verified -> a retention plan.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1 KERAS_BACKEND=jax
# A demo keeps its backup tags local: a clone's origin is the project's upstream.
export HDVERSION_GIT_REMOTE=""
MODEL=models/keras_mlp_model.h5

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/8 Train the pipeline (dvc repro: data, prepare, tune, train, evaluate)"
dvc repro
dvc metrics show

step "2/8 Back up every artifact (DVC cache + local remote, then a git tag)"
hdversion backup -m "demo: trained models"
good=$(md5sum "$MODEL" | cut -d' ' -f1)

step "3/8 Damage the Keras model"
chmod u+w "$MODEL"
head -c 4096 /dev/urandom > "$MODEL"
echo "$MODEL now hashes to $(md5sum "$MODEL" | cut -d' ' -f1) (was $good)"

step "4/8 List the backups"
hdversion list

step "5/8 Restore the latest backup (the damaged file is kept in a safety backup first)"
hdversion restore

step "6/8 The restored model: the right bytes, loads in Keras"
now=$(md5sum "$MODEL" | cut -d' ' -f1)
if [ "$now" != "$good" ]; then
    echo "FAILED: $MODEL hashes to $now, expected $good" >&2
    exit 1
fi
python -c "import keras; keras.models.load_model('$MODEL').summary(print_fn=lambda *a, **k: None)"
dvc status
echo "OK: $MODEL restored ($now), loads in Keras, DVC reports the workspace up to date."

step "7/8 Check the backups: every object read back from the local remote and hashed"
hdversion verify --all --read-data

step "8/8 What a retention policy would keep (prune --dry-run changes nothing)"
hdversion prune --keep 1 --dry-run

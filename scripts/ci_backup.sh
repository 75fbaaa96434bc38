#!/usr/bin/env bash
# The CI job's backup, run from the repository after the pipeline (see
# .github/workflows/backup.yml): back up to S3, prune with the retention policy of
# config/config.yaml, push the tag to origin. One JSON line on stdout; hdversion's exit code.
#
# Needs: HDVERSION_S3_URL (s3://bucket/prefix) and the AWS credentials in the environment
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: the CI's secret store). Optional:
# HDVERSION_S3_ENDPOINT (an S3-compatible server), HDVERSION (the hdversion to run).
set -euo pipefail
: "${HDVERSION_S3_URL:?set HDVERSION_S3_URL to s3://bucket/prefix}"
: "${AWS_ACCESS_KEY_ID:?the CI secret AWS_ACCESS_KEY_ID is missing}"
: "${AWS_SECRET_ACCESS_KEY:?the CI secret AWS_SECRET_ACCESS_KEY is missing}"
hdversion=${HDVERSION:-hdversion}

# The remote's public part goes into .dvc/config (not committed by this job); secrets stay
# in the environment, where DVC's S3 client finds them.
endpoint=()
if [ -n "${HDVERSION_S3_ENDPOINT:-}" ]; then endpoint=(--endpoint-url "$HDVERSION_S3_ENDPOINT"); fi
"$hdversion" remote add s3 "$HDVERSION_S3_URL" "${endpoint[@]}" >&2

# CI runners have no git identity: hdversion tags as <user>@<host> then.
"$hdversion" auto --storage s3 -m "CI ${GITHUB_SHA:-manual} ${GITHUB_REF_NAME:-}" --json

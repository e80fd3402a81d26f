#!/usr/bin/env bash
# Install every build and test dependency from Debian's packages (idempotent,
# quiet when everything is present). Python tooling for the bindings comes
# from PyPI when `pip install .` builds the module (pyproject.toml).
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config
      liburing-dev libzstd-dev zlib1g-dev librocksdb-dev libxxhash-dev
      libssl-dev libcmocka-dev libsqlite3-dev libcurl4-openssl-dev
      python3 python3-dev python3-pytest python3-venv python3-pip
      python3-pyfuse3 fuse3
      dpkg-dev file
      zstd git time rsync restic borgbackup
      man-db groff-base zsh)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The S3 server of the remote tests (versitygw, by `go install`), only when
# asked: UDOS_S3_TESTS=1 (the test fixture also calls setup-s3.sh itself).
if [ "${UDOS_S3_TESTS:-0}" = 1 ]; then
	"$(dirname "$0")/setup-s3.sh" >/dev/null
fi

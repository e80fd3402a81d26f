#!/usr/bin/env bash
# Install versitygw, the S3 server the remote tests (tests/cli/test_remote.py,
# python/tests/test_remote.py) start on 127.0.0.1, with `go install` from
# the Go module proxy (about 4 minutes of compile the first time, then
# cached in GOBIN). Prints the binary's path. The rest of the suite never
# needs it.
set -euo pipefail
ver=v1.8.0
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
	echo "setup-s3: no Go toolchain (apt-get install golang-go)" >&2
	exit 1
fi
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/versitygw" ]; then
	echo "setup-s3: go install versitygw@$ver (a few minutes)" >&2
	go install "github.com/versity/versitygw/cmd/versitygw@$ver" >&2
fi
echo "$gobin/versitygw"

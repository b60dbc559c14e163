#!/usr/bin/env bash
# Installs python-hl7 (PyPI package `hl7`, pinned) into a virtual environment of its own under
# the cache, and links its `mllp_send` into ~/.cache/wardwatch/bin/, where the tests look first:
#
#   ~/.cache/wardwatch/python-hl7-<version>/   the virtual environment (Debian's python3)
#   ~/.cache/wardwatch/bin/mllp_send           a link to its mllp_send
#
# The exporter's tests send third-party HL7 with it. WARDWATCH_CACHE overrides the cache root.
set -euo pipefail

version=0.4.5
cache=${WARDWATCH_CACHE:-$HOME/.cache/wardwatch}
venv=$cache/python-hl7-$version
if [[ ! -x "$venv/bin/mllp_send" ]]; then
	rm -rf "$venv"
	# Debian's interpreter (python3-venv is among install-deps.sh's packages), whatever else
	# is first on PATH.
	/usr/bin/python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "hl7==$version"
	echo "installed python-hl7 $version -> $venv"
else
	echo "cached python-hl7 $version -> $venv"
fi
mkdir -p "$cache/bin"
ln -sfn "$venv/bin/mllp_send" "$cache/bin/mllp_send"

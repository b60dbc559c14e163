#!/usr/bin/env bash
# Fetches Wireshark's test captures (test/captures in the wireshark source package's .orig
# tarball) from Debian, for the exporter's third-party capture test. The source version is the
# one of the installed tshark, so the captures and their reference reader match:
#
#   ~/.cache/wardwatch/wireshark-captures/<version>/test/captures/   the captures
#   ~/.cache/wardwatch/wireshark-captures/current                    a link to the version in use
#
# apt gets a source configuration of its own under that directory (a deb-src line for every deb
# line of the machine's sources, same URI, suites and components), with its own lists and
# caches, so the machine's apt configuration is left as it is. Skips all of it when the version
# is already extracted. WARDWATCH_CACHE overrides the cache root.
set -euo pipefail

cache=${WARDWATCH_CACHE:-$HOME/.cache/wardwatch}/wireshark-captures
version=$(dpkg-query -W -f='${source:Version}' tshark 2>/dev/null) || {
	echo "wireshark-captures: tshark is not installed (install-deps.sh installs it first)" >&2
	exit 1
}
dest=$cache/$version
if [[ -d "$dest/test/captures" ]]; then
	ln -sfn "$version" "$cache/current"
	echo "cached Wireshark test captures $version -> $dest/test/captures"
	exit 0
fi

apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d"

# deb-src entries mirroring the machine's deb entries: one-line .list files and deb822 .sources.
{
	for list in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f "$list" ]] || continue
		awk '$1 == "deb" { $1 = "deb-src"; print }' "$list"
	done
} >"$apt_dir/sources.list.d/wardwatch-src.list"
for sources in /etc/apt/sources.list.d/*.sources; do
	[[ -f "$sources" ]] || continue
	# Each stanza whose Types include deb is copied with Types: deb-src.
	awk 'BEGIN { RS = ""; ORS = "\n\n" }
	     {
	       n = split($0, lines, "\n"); out = ""; binary = 0
	       for (i = 1; i <= n; i++) {
	         line = lines[i]
	         if (line ~ /^#/) continue
	         if (line ~ /^Types:/) {
	           if (line ~ /[: ]deb( |$)/) binary = 1
	           line = "Types: deb-src"
	         }
	         out = out line "\n"
	       }
	       if (binary) printf "%s\n", out
	     }' "$sources" >"$apt_dir/sources.list.d/wardwatch-src-$(basename "$sources")"
done
if ! grep -qs 'deb-src' "$apt_dir"/sources.list.d/*; then
	echo "wireshark-captures: no deb entry found in /etc/apt/sources.list{,.d/} to mirror as deb-src" >&2
	exit 1
fi

apt_options=(
	-o "Dir::Etc::SourceList=/dev/null"
	-o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	-o "Dir::State::Lists=$apt_dir/lists"
	-o "Dir::Cache=$apt_dir/cache"
	# apt's download user cannot enter root's home, where the cache lives.
	-o "APT::Sandbox::User=root"
)
echo "fetching Wireshark $version source from Debian (deb-src entries in $apt_dir/sources.list.d)"
apt-get "${apt_options[@]}" update -qq
work=$(mktemp -d "$cache/download.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${apt_options[@]}" source --download-only -qq "wireshark=$version")
orig=$(find "$work" -maxdepth 1 -name 'wireshark_*.orig.tar.*' | head -1)
[[ -n "$orig" ]] || {
	echo "wireshark-captures: no .orig tarball among $(ls "$work")" >&2
	exit 1
}
mkdir -p "$work/extract"
tar -xf "$orig" -C "$work/extract" --strip-components=1 --wildcards '*/test/captures/*'
mkdir -p "$dest/test"
mv "$work/extract/test/captures" "$dest/test/captures"
ln -sfn "$version" "$cache/current"
echo "fetched Wireshark test captures $version ($(find "$dest/test/captures" -type f | wc -l) files) -> $dest/test/captures"

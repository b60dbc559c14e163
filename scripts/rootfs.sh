#!/usr/bin/env bash
# Assembles the root filesystem of one of wardwatch's images, the same way for the images built
# without a container engine (scripts/images.sh) and for the Dockerfile's:
#
#   scripts/rootfs.sh <binary> <rootfs dir> <install dir> [file capabilities]
#
# Puts in <rootfs dir>: the binary at <install dir>/<its name>, debug sections stripped; the
# shared libraries it links (as ldd resolves them, with the dynamic loader); the CA
# certificates; /etc/passwd and /etc/group with root and the non-root user 65532; an empty
# /tmp; and nothing else. With [file capabilities] (for example cap_net_raw,cap_net_admin=ep),
# the binary carries them (setcap from libcap2-bin).
set -euo pipefail

binary=$1 root=$2 install_dir=$3 capabilities=${4:-}
[[ -x "$binary" ]] || {
	echo "rootfs.sh: $binary is not an executable" >&2
	exit 1
}
mkdir -p "$root/etc/ssl/certs" "$root$install_dir" "$root/tmp"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
	>"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
target="$root$install_dir/$(basename "$binary")"
objcopy --strip-debug "$binary" "$target"
{ ldd "$binary" 2>/dev/null || true; } | awk '/=> \// { print $3 } $1 ~ /^\// { print $1 }' | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
if [[ -n $capabilities ]]; then
	setcap "$capabilities" "$target"
fi

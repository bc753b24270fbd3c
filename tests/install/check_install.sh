#!/bin/sh
# tests/install/check_install.sh - what a user gets from `meson install`:
# install into a scratch DESTDIR, then build examples/hello.c, a client
# program and programs on the filesystem libraries (the Ceph one where it was
# built) against the installed headers with nothing but pkg-config, run
# them, and read a man page. Args: BUILD_DIR SOURCE_DIR.
set -eu
build=$1 src=$2
tmp=$(mktemp -d /tmp/sgfuse-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp/root" --no-rebuild >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; exit 1; }
pc=$(dirname "$(find "$tmp/root" -name sgfuse.pc | head -n 1)")
[ -n "$pc" ] || { echo "check_install: no sgfuse.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
libdir=$(pkg-config --variable=libdir sgfuse) # the sysroot included
# A filesystem, from the installed headers only (no -D_GNU_SOURCE, -Wall -Werror).
cc ${SGF_CFLAGS:-} -Wall -Wextra -Werror -o "$tmp/hello" "$src/examples/hello.c" \
	$(pkg-config --cflags --libs sgfuse)
LD_LIBRARY_PATH="$libdir" "$tmp/hello" --version >"$tmp/version"
grep -q . "$tmp/version"
LD_LIBRARY_PATH="$libdir" "$tmp/hello" --help | grep -q MOUNTPOINT
# A requester, from the client library alone.
cat >"$tmp/client.c" <<'C'
#include <sgfuse/client.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	struct sgf_client *c;
	int err = sgf_client_connect(argc > 1 ? argv[1] : "unix:/nonexistent", NULL, &c);
	printf("%d\n", err);
	return err < 0 ? 0 : 1;
}
C
cc ${SGF_CFLAGS:-} -Wall -Wextra -Werror -o "$tmp/client" "$tmp/client.c" \
	$(pkg-config --cflags --libs sgfuse-client)
LD_LIBRARY_PATH="$libdir" "$tmp/client" >/dev/null
# The passthrough as a library, with its own pkg-config file.
cat >"$tmp/pt.c" <<'C'
#include <sgfuse/passthrough.h>
int main(void) { return sgf_passthrough_ops() != 0 ? 0 : 1; }
C
cc ${SGF_CFLAGS:-} -Wall -Werror -o "$tmp/pt" "$tmp/pt.c" $(pkg-config --cflags --libs sgfuse-passthrough)
LD_LIBRARY_PATH="$libdir" "$tmp/pt"
# The Ceph filesystem as a library, where the build has it (libcephfs
# found): its header, its pkg-config file (which links libcephfs) and its
# pages. Where it was not built none of them may be installed.
ceph_pages=
if [ -x "$build/tools/sgfuse-ceph" ]; then
	cat >"$tmp/cf.c" <<'C'
#include <sgfuse/ceph.h>
int main(void)
{
	struct sgf_ceph_opts o = { .root = "/", .backend_threads = 2 };
	struct sgf_ceph *c;
	void *s;
	int ok;

	if (sgf_ceph_ops() == 0 || sgf_ceph_new(&c, &o) != 0)
		return 1;
	s = sgf_ceph_session_new(c); /* nothing is contacted before INIT */
	ok = s != 0;
	sgf_ceph_session_free(s);
	sgf_ceph_free(c);
	return ok ? 0 : 1;
}
C
	cc ${SGF_CFLAGS:-} -Wall -Werror -o "$tmp/cf" "$tmp/cf.c" $(pkg-config --cflags --libs sgfuse-ceph)
	LD_LIBRARY_PATH="$libdir" "$tmp/cf"
	ceph_pages="man3/sgf_ceph_new.3 man3/sgf_ceph_connect.3 man8/sgfuse-ceph.8"
else
	for f in sgfuse-ceph.pc ceph.h sgfuse-ceph.8 sgf_ceph_new.3 libsgfuse-ceph.a; do
		[ -z "$(find "$tmp/root" -name "$f")" ] ||
			{ echo "check_install: $f installed without the Ceph filesystem"; exit 1; }
	done
fi
# The man pages are where sgfuse(3) says.
for page in man3/sgfuse.3 man3/sgf_server_run.3 man3/sgf_reply.3 man8/sgfuse-passthrough.8 \
	$ceph_pages; do
	f=$(find "$tmp/root" -path "*/man/$page" | head -n 1)
	[ -n "$f" ] || { echo "check_install: $page not installed"; exit 1; }
done
if command -v man >/dev/null; then
	MANPATH="$(dirname "$(dirname "$f")")" man -P cat sgf_server_run 2>/dev/null | grep -q sgf_server_new
fi
echo "check_install: ok"

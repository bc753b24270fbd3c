#!/bin/sh
# tests/man/check_man.sh [MANDIR] - format every manual page in MANDIR
# (default: the man/ directory of this source tree) with groff's warnings
# all on, and with man-db's `man --warnings -l` when it is installed; any
# warning or error fails the test. Also checks that man/meson.build installs
# every page. Exit 77 (skipped) without groff.
set -u
dir=${1:-$(dirname "$0")/../../man}
if ! command -v groff >/dev/null 2>&1; then
	echo "check_man: groff is not installed (Debian: groff-base)" >&2
	exit 77
fi
export LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat
fail=0
n=0
for page in "$dir"/*.[1-9]; do
	[ -e "$page" ] || continue
	n=$((n + 1))
	name=$(basename "$page")
	out=$(groff -man -ww -z "$page" 2>&1)
	if [ -n "$out" ]; then
		printf '%s: groff:\n%s\n' "$name" "$out" >&2
		fail=1
	fi
	if command -v man >/dev/null 2>&1; then
		out=$(man --warnings -l "$page" 2>&1 >/dev/null)
		if [ -n "$out" ]; then
			printf '%s: man:\n%s\n' "$name" "$out" >&2
			fail=1
		fi
	fi
	if [ -f "$dir/meson.build" ] && ! grep -q "'$name'" "$dir/meson.build"; then
		printf '%s: not installed by man/meson.build\n' "$name" >&2
		fail=1
	fi
done
if [ "$n" -eq 0 ]; then
	echo "check_man: no pages in $dir" >&2
	exit 1
fi
[ "$fail" -eq 0 ] && echo "check_man: $n pages, no warnings"
exit "$fail"

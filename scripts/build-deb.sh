#!/usr/bin/env bash
# Packs a pgbk binary into pgbk_<version>_<arch>.deb for a Debian backup host or database host:
#   /usr/bin/pgbk, the man pages, config-examples/ under /usr/share/doc/pgbk/examples, the
#   backup host's systemd units (pgbk-receive-wal@.service, pgbk-cron.service and .timer), the
#   host locks' directory (tmpfiles.d), and a postinst that makes the pgbk system user. Then
#   lintian, which must have nothing to say.
#
#   build-deb.sh [--binary PATH] [--output DIR] [--no-lintian]
#
# make deb passes the self-contained release binary (make release); DebianPackageTests the
# debug one it built, linked the same way. Packaging and test use this one script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
binary=$here/.build/release/pgbk
output=$here
lintian=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --no-lintian) lintian=no; shift ;;
    *) echo "build-deb: unknown argument $1 (usage: build-deb.sh [--binary PATH] [--output DIR] [--no-lintian])" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "build-deb: $binary: no pgbk binary (make release builds one)" >&2; exit 1; }
# Debian's tools want a Swift runtime that is not the toolchain's: the binary must carry it.
if readelf -d "$binary" | grep -q 'libswiftCore.so'; then
  echo "build-deb: $binary needs the Swift toolchain's libraries at run time: build it with -static-stdlib (make release)" >&2
  exit 1
fi

version=$("$binary" --version)
[[ "$version" =~ ^[0-9]+(\.[0-9]+)*$ ]] || { echo "build-deb: $binary --version printed '$version', not a version" >&2; exit 1; }
arch=$(dpkg --print-architecture)
# Reproducible: every date in the package is the commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}

stage=$(mktemp -d "${TMPDIR:-/tmp}/pgbk-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/pgbk
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" "$doc/examples" "$root/lib/systemd/system"

install -m 0755 "$binary" "$root/usr/bin/pgbk"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/pgbk"
for page in "$here"/docs/man/*.1; do
  gzip -9n < "$page" > "$root/usr/share/man/man1/$(basename "$page").gz"
done
cp -R "$here/config-examples/." "$doc/examples/"
find "$doc/examples" -type d -exec chmod 0755 {} + && find "$doc/examples" -type f -exec chmod 0644 {} +
for unit in pgbk-receive-wal@.service pgbk-cron.service pgbk-cron.timer; do
  install -m 0644 "$here/config-examples/backup-host/$unit" "$root/lib/systemd/system/$unit"
done
install -m 0644 "$here/packaging/copyright" "$doc/copyright"
install -D -m 0644 "$here/packaging/tmpfiles.conf" "$root/usr/lib/tmpfiles.d/pgbk.conf"
changelog_date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
printf 'pgbk (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n' \
  "$version" "$(git -C "$here" describe --always --dirty 2>/dev/null || echo 'a source tree')" \
  "$(sed -n 's/^Maintainer: //p' "$here/packaging/control")" "$changelog_date" | gzip -9n > "$doc/changelog.gz"
install -m 0755 "$here/packaging/postinst" "$here/packaging/postrm" "$root/DEBIAN/"

# Depends: what the binary links (dpkg-shlibdeps), and what pgbk loads only when it needs it:
# libpq always, libarchive for backups over the protocol; S3's libraries are recommended.
shlibs=$(cd "$stage" && mkdir -p debian && : > debian/control \
  && dpkg-shlibdeps -O -e"$root/usr/bin/pgbk" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies for $binary" >&2; exit 1; }
{
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$shlibs, libpq5, libarchive13, adduser/" \
      -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$root" | cut -f1)/" "$here/packaging/control"
} > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$output"
deb=$output/pgbk_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
if [ "$lintian" = yes ]; then
  # Errors and warnings fail the build; lintian's informational tags are printed.
  lintian --fail-on error,warning --info "$deb"
fi
echo "$deb"

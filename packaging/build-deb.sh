#!/usr/bin/env bash
# Builds the Debian package and checks what it holds.
#
# Builds the release binary, has it write its shell completions and manual
# pages under <target dir>/release/ (where the assets of
# [package.metadata.deb] in Cargo.toml point; for another profile, cargo-deb
# reads that prefix as the profile's directory), runs `cargo deb --no-build`,
# then checks the package with dpkg-deb: its control fields, that it holds the
# binary, the completions, a manual page per command, the README and the
# licences, and that the binary, completions and pages it unpacks work.
#
# Needs cargo-deb (`cargo install cargo-deb --locked`), dpkg-deb and
# dpkg-shlibdeps (dpkg-dev), bash, zsh and groff. Builds for the machine it
# runs on (it runs the binary it built). Prints the .deb's path last.
#
# `--profile NAME` builds with another Cargo profile instead of `release`
# (the test suite uses `deb-test`, the release profile without its
# optimisation: see Cargo.toml); everything else is the same. The .deb goes to
# <target dir>/debian/ for `release`, else to <target dir>/NAME/debian/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { echo "build-deb: $*" >&2; exit 1; }

profile=release
case $# in
    0) ;;
    2) [ "$1" = --profile ] || fail "usage: $0 [--profile NAME]"; profile=$2 ;;
    *) fail "usage: $0 [--profile NAME]" ;;
esac
# `dev` and `test` build into target/debug/, and are not release builds.
if [[ ! $profile =~ ^[a-z][a-z0-9-]*$ ]] || [ "$profile" = dev ] || [ "$profile" = test ]; then
    fail "--profile: '$profile' is not a profile this script builds (release, or one that inherits it)"
fi

cargo build --profile "$profile" --locked
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target_dir" ] || fail "cannot find the target directory"
# Where cargo puts the profile's binary; cargo-deb reads the assets written
# `target/release/...` in Cargo.toml from there too.
out=$target_dir/$profile
bin=$out/patchwave
if [ "$profile" = release ]; then
    deb_dir=$target_dir/debian
else
    deb_dir=$out/debian
fi

rm -rf "$out/completions" "$out/man"
mkdir -p "$out/completions"
"$bin" completions bash >"$out/completions/patchwave.bash"
"$bin" completions zsh >"$out/completions/_patchwave"
"$bin" completions fish >"$out/completions/patchwave.fish"
"$bin" man --out-dir "$out/man" >/dev/null
# Compressed as Debian policy wants (cargo-deb compresses manual pages, but
# not ones under target/release/); -n: no name or time stamp, reproducible.
gzip -9n "$out"/man/*.1

rm -rf "$deb_dir"
cargo deb --no-build --profile "$profile" --output "$deb_dir/" >/dev/null
debs=("$deb_dir"/*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    fail "expected one .deb in $deb_dir"
fi
deb=${debs[0]}

# Control fields.
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = patchwave ] || fail "Package: $(field Package)"
[ "$(field Section)" = admin ] || fail "Section: $(field Section)"
version=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"name":"patchwave","version":"\([^"]*\)".*/\1/p')
[ "$(field Version)" = "$version-1" ] || fail "Version: $(field Version), not $version-1"
depends=$(field Depends)
for d in openssh-client git libc6; do
    [[ ", $depends," == *", $d"[\ ,]* ]] || fail "Depends lacks $d: $depends"
done

# Contents.
listing=$(dpkg-deb --contents "$deb" | awk '{print $NF}')
expect=(
    ./usr/bin/patchwave
    ./usr/share/bash-completion/completions/patchwave
    ./usr/share/zsh/vendor-completions/_patchwave
    ./usr/share/fish/vendor_completions.d/patchwave.fish
    ./usr/share/man/man1/patchwave.1.gz
    ./usr/share/doc/patchwave/README.md
    ./usr/share/doc/patchwave/LICENSE-APACHE
    ./usr/share/doc/patchwave/LICENSE-MIT
    ./usr/share/doc/patchwave/copyright
)
for page in "$out"/man/*.1.gz; do
    expect+=("./usr/share/man/man1/$(basename "$page")")
done
[ "${#expect[@]}" -ge 20 ] || fail "only ${#expect[@]} files expected: no manual pages?"
for f in "${expect[@]}"; do
    grep -qxF "$f" <<<"$listing" || fail "$f is not in the package"
done

# What it unpacks works: the binary is the one built, the completions parse,
# every page renders without a warning.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb --extract "$deb" "$root"
[ "$("$root/usr/bin/patchwave" --version)" = "$("$bin" --version)" ] || fail "the packaged binary is not the one built"
bash -n "$root/usr/share/bash-completion/completions/patchwave"
zsh -n "$root/usr/share/zsh/vendor-completions/_patchwave"
for page in "$root"/usr/share/man/man1/*.1.gz; do
    warnings=$(zcat "$page" | groff -k -man -Tutf8 -ww -z 2>&1)
    [ -z "$warnings" ] || fail "$(basename "$page"): $warnings"
done

echo "build-deb: $(basename "$deb"): $(grep -c . <<<"$listing") entries, Depends: $depends" >&2
echo "$deb"

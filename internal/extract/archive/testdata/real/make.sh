#!/bin/sh
# Archives made by 7-Zip (p7zip-full 16.02, Debian 12) for the tests in
# ../../depth_test.go, which read them whether or not 7z is installed.
# Run from this directory: sh make.sh
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/sub"
printf 'hello from 7-Zip\n' > "$tmp/src/a.txt"
seq 1 2000 > "$tmp/src/sub/numbers.txt"
rm -f ./*.7z ./*.zip
(cd "$tmp/src" && 7z a -bd -m0=lzma2 "$OLDPWD/lzma2.7z" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -m0=bzip2 "$OLDPWD/bzip2.7z" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -m0=ppmd "$OLDPWD/ppmd.7z" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -pinfected "$OLDPWD/aes-infected.7z" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -pinfected -mhe=on "$OLDPWD/aes-infected-mhe.7z" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -punknown-pw -mhe=on "$OLDPWD/aes-unknown-mhe.7z" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -tzip -pinfected -mem=AES256 "$OLDPWD/aes256-infected.zip" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -tzip -pmalware -mem=AES128 "$OLDPWD/aes128-malware.zip" . >/dev/null)
(cd "$tmp/src" && 7z a -bd -tzip -pvirus -mem=ZipCrypto "$OLDPWD/zipcrypto-virus.zip" . >/dev/null)
# Bombs: 1 GiB of zeros, plain and under the built-in password.
head -c 1073741824 /dev/zero | 7z a -bd -si"zeros.bin" bomb-1g.7z >/dev/null
head -c 1073741824 /dev/zero | 7z a -bd -pinfected -si"zeros.bin" bomb-1g-infected.7z >/dev/null

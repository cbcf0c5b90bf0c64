#!/bin/sh
# Rebuilds data/kjv-genesis-judges.txt.gz from Debian's bible-kjv packages (see data/README.md).
# Needs apt access to Debian; writes only under a temporary folder and data/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
cd "$tmp"
apt-get download bible-kjv bible-kjv-text >/dev/null
for f in *.deb; do dpkg-deb -x "$f" root; done
# -f: one verse per line, prefixed with its reference (e.g. "Ge1:1 In the beginning ...")
./root/usr/bin/bible -f -p "$tmp/root/usr/lib" gen1:1-jdg21:25 |
awk '
  BEGIN { n["Ge"]="Genesis"; n["Exo"]="Exodus"; n["Lev"]="Leviticus"; n["Num"]="Numbers";
          n["Deu"]="Deuteronomy"; n["Josh"]="Joshua"; n["Jdgs"]="Judges" }
  {
    ref = $1; sub(/^[^ ]+ /, "");
    book = ref; sub(/[0-9].*/, "", book);
    chap = ref; sub(/^[A-Za-z]+/, "", chap); sub(/:.*/, "", chap);
    if (book != lastbook || chap != lastchap) {
      if (NR > 1) printf "\n";
      printf "%s %s\n\n", n[book], chap;
      lastbook = book; lastchap = chap;
    }
    print
  }' > kjv.txt
gzip -9n < kjv.txt > "$here/kjv-genesis-judges.txt.gz"
wc -c kjv.txt "$here/kjv-genesis-judges.txt.gz"
rm -rf "$tmp"

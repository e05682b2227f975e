#!/usr/bin/env bash
# scripts/data.sh: installs the datasets the examples use and writes them where the
# examples expect them (part of the README's setup; scripts/main.sh runs it).
#   Fashion-MNIST (IDX files): /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
#   King James text: datasets/kjv.txt, one verse a line, headings and verse numbers stripped
#     (4,137,850 bytes); the examples take its last 10% as the validation split.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
out=${ANNEAL_DATA_DIR:-$root/datasets}
mkdir -p "$out"
if [ ! -s "$out/kjv.txt" ]; then
  # `bible` prints "Book N" headings and "  V text" verse lines; keep the text only.
  bible -l100000 "Gen1:1-Rev22:21" | sed -nE 's/^ +[0-9]+ (.*)$/\1/p' > "$out/kjv.txt.tmp"
  mv "$out/kjv.txt.tmp" "$out/kjv.txt"
fi
bytes=$(wc -c < "$out/kjv.txt")
[ "$bytes" -gt 4000000 ] || { echo "data: $out/kjv.txt has only $bytes bytes; is bible-kjv-text installed?" >&2; exit 1; }
ls /usr/share/datasets/fashion-mnist/*.gz >/dev/null
echo "data: fashion-mnist in /usr/share/datasets/fashion-mnist, kjv.txt ($bytes bytes) in $out"

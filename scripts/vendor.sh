#!/usr/bin/env bash
# Copy the npm front-end packages into static/vendor/ (git-ignored). Run by make.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package.json -nt node_modules/.stamp ]; then
  echo "==> npm install (front-end packages)"
  npm install --no-audit --no-fund --loglevel=error && touch node_modules/.stamp
fi
out=static/vendor
rm -rf "$out"; mkdir -p "$out/htmx" "$out/xterm" "$out/asciinema-player"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx/"
cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css "$out/xterm/"
cp node_modules/@xterm/addon-fit/lib/addon-fit.js "$out/xterm/"
cp node_modules/asciinema-player/dist/bundle/asciinema-player.min.js "$out/asciinema-player/"
cp node_modules/asciinema-player/dist/bundle/asciinema-player.css "$out/asciinema-player/"
echo "==> front-end packages copied to $out"

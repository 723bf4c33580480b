#!/usr/bin/env bash
# Prints the URI of this machine's Debian archive, read from its own APT sources the way APT reads
# them (sources.list(5)): etc/apt/sources.list (one-line format), then etc/apt/sources.list.d/
# *.list (one-line) and *.sources (deb822), in file-name order. The archive is the first enabled
# `deb` source that carries the release's own suite (VERSION_CODENAME in etc/os-release; without
# one, the first suite that is not an -updates/-security/-backports pocket). Tests and scripts that
# fetch Debian packages take the mirror from here, so no mirror's host name is in the project.
# Usage: apt-mirror.sh [ROOT]   ROOT holds etc/apt and etc/os-release (default /).
set -euo pipefail
root=${1:-/}

codename=$(sed -n 's/^VERSION_CODENAME=["'\'']\{0,1\}\([^"'\'']*\).*/\1/p' "$root/etc/os-release" 2>/dev/null | head -n 1 || true)
files=()
if [ -f "$root/etc/apt/sources.list" ]; then files+=("$root/etc/apt/sources.list"); fi
for file in "$root"/etc/apt/sources.list.d/*; do
  case "$file" in *.list | *.sources) if [ -f "$file" ]; then files+=("$file"); fi ;; esac
done
if [ "${#files[@]}" -eq 0 ]; then
  echo "apt-mirror: no APT sources under $root/etc/apt (sources.list, sources.list.d/*.list, *.sources)" >&2
  exit 1
fi

# shellcheck disable=SC2016 # the awk program is single-quoted on purpose
awk -v codename="$codename" '
  function suite_ok(suite) { return codename != "" ? suite == codename : suite !~ /[-\/]/ }
  # One source: enabled, of type deb, with the wanted suite → print its first URI and stop.
  function consider(types, uris, suites, enabled,   n, i, list, found, uri) {
    if (tolower(enabled) == "no" || (" " types " ") !~ /[ \t]deb[ \t]/) return
    n = split(suites, list, /[ \t]+/)
    for (i = 1; i <= n; i++) if (list[i] != "" && suite_ok(list[i])) found = 1
    if (!found) return
    n = split(uris, list, /[ \t]+/)
    for (i = 1; i <= n; i++) {
      if (list[i] == "") continue
      uri = list[i]
      sub(/\/+$/, "", uri)
      print uri
      done = 1
      exit 0
    }
  }
  function flush() {
    if (types != "" || uris != "") consider(types, uris, suites, enabled == "" ? "yes" : enabled)
    types = uris = suites = enabled = key = ""
  }
  FNR == 1 { flush(); deb822 = FILENAME ~ /\.sources$/ }
  # deb822: paragraphs of "Field: value" lines, continuation lines indented, "#" comments.
  deb822 && /^#/ { next }
  deb822 && /^[ \t]*$/ { flush(); next }
  deb822 && /^[ \t]/ { value = $0; sub(/^[ \t]+/, "", value); if (key == "types") types = types " " value; else if (key == "uris") uris = uris " " value; else if (key == "suites") suites = suites " " value; next }
  deb822 {
    key = tolower(substr($0, 1, index($0, ":") - 1)); value = substr($0, index($0, ":") + 1)
    gsub(/^[ \t]+|[ \t]+$/, "", value)
    if (key == "types") types = value; else if (key == "uris") uris = value; else if (key == "suites") suites = value; else if (key == "enabled") enabled = value
    next
  }
  # One-line: "deb [options] uri suite [component...]", "#" comments.
  {
    line = $0
    sub(/#.*/, "", line)
    gsub(/\[[^]]*\]/, " ", line)
    n = split(line, word, /[ \t]+/)
    j = 0
    for (i = 1; i <= n; i++) if (word[i] != "") field[++j] = word[i]
    if (j >= 3) consider(field[1], field[2], field[3], "yes")
  }
  END {
    if (!done) flush()
    if (!done) exit 1
  }
' "${files[@]}" || {
  echo "apt-mirror: no enabled deb source for suite ${codename:-(any release)} in ${files[*]}" >&2
  exit 1
}

#!/usr/bin/env bash
# Checks the layering of src/ (docs/architecture.md): a module includes only itself and the
# modules below it, and Beast only where the HTTP stack lives. Prints each forbidden include
# and ends with "N passed, N failed" (one check per file).
set -uo pipefail
cd "$(dirname "$0")/.."

# Lowest first: each may include the ones before it.
ORDER=(common net jsonrpc mcp config store access upstream gate relay downstream client app)
# Where Beast may be included.
BEAST_OK='^src/(net/|downstream/|upstream/http_client\.(hpp|cpp)$)'

rank() {
  local i
  for i in "${!ORDER[@]}"; do
    [ "${ORDER[$i]}" = "$1" ] && { echo "$i"; return; }
  done
  echo -1
}

pass=0
fail=0
while IFS= read -r file; do
  module=${file#src/}
  module=${module%%/*}
  own=$(rank "$module")
  bad=()
  while IFS= read -r inc; do
    [ -z "$inc" ] && continue
    dep=${inc%%/*}
    r=$(rank "$dep")
    if [ "$r" -gt "$own" ]; then
      bad+=("includes \"$inc\" ($dep is above $module)")
    fi
  done < <(sed -nE 's/^#include "([a-z_]+\/[^"]+)".*/\1/p' "$file")
  if grep -qE '^#include <boost/beast' "$file" && ! [[ $file =~ $BEAST_OK ]]; then
    bad+=("includes Beast (only net/, downstream/ and upstream/http_client may)")
  fi
  if [ "$own" -lt 0 ]; then
    bad+=("is in no known module (add it to ORDER in scripts/check_layers.sh)")
  fi
  if [ ${#bad[@]} -eq 0 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    for b in "${bad[@]}"; do
      echo "$file: $b"
    done
  fi
done < <(find src -name '*.cpp' -o -name '*.hpp' | grep -v '^src/[^/]*$' | sort)
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

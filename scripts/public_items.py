#!/usr/bin/env python3
"""Public items per crate, from rustdoc's JSON output.

    for c in rewind-team rewind-tape rewind-checkpoint rewind-field rewind-optim \
             rewind-ensemble rewind-io rewind-sim; do
      cargo +nightly rustdoc -q -p $c --lib -- -Z unstable-options --output-format json
    done
    python3 scripts/public_items.py target/doc

"paths" are the crate's nameable public items (modules, types, traits,
functions, constants, macros; enum variants and struct fields counted
apart, as the kinds show); "index" adds methods and associated items.
"""
import glob
import json
import os
import sys

d = sys.argv[1] if len(sys.argv) > 1 else "target/doc"
for f in sorted(glob.glob(os.path.join(d, "rewind_*.json"))):
    j = json.load(open(f))
    paths = [p for p in j["paths"].values() if p["crate_id"] == 0]
    kinds = {}
    for p in paths:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    nameable = len(paths) - kinds.get("variant", 0) - kinds.get("struct_field", 0)
    items = sum(1 for i in j["index"].values() if i.get("crate_id") == 0 and i.get("visibility") == "public")
    print(f"{os.path.basename(f)[:-5]:<20} nameable {nameable:4}  with methods and fields {items:5}  {kinds}")

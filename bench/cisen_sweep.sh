#!/bin/bash
# CISEN head settings on UCM val: for each "HIERARCHY TRANSFER EPOCHS GRADED" argument, train a head on UCM train
# over the CLOSP checkpoint $CLOSP and measure it beside the tower with `rsq eval ucm-hier --split val`; one JSON
# line per setting into $OUT/sweep.jsonl. The README's CISEN table came from this (defaults chosen on val only).
# Run: CLOSP=ckpt/closp OUT=runs/cisen-sweep bench/cisen_sweep.sh "0.5 1 30 0" "3 0.3 30 2" …
set -u
OUT=${OUT:-runs/cisen-sweep}
BIN=${BIN:-.venv/bin}
mkdir -p "$OUT"
for setting in "$@"; do
  set -- $setting
  name="h$1-t$2-e$3-g$4"
  start=$(date +%s)
  "$BIN/rsq" train cisen --closp "$CLOSP" --out "$OUT/$name" --hierarchy-weight "$1" --transfer-weight "$2" \
    --epochs "$3" --graded "$4" > "$OUT/$name.train.log" 2>&1 || { echo "train $name failed"; continue; }
  took=$(( $(date +%s) - start ))
  "$BIN/rsq" eval ucm-hier --image-encoder "cisen:$OUT/$name" --split val --out "$OUT/eval-$name" \
    > "$OUT/$name.eval.log" 2>&1 || { echo "eval $name failed"; continue; }
  "$BIN/python" -c "import json, sys; r = json.load(open(sys.argv[1])); print(json.dumps({'setting': sys.argv[2], \
'train_s': int(sys.argv[3]), **r['modes']}))" "$OUT/eval-$name/results.json" "$name" "$took" >> "$OUT/sweep.jsonl"
done

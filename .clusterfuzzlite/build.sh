#!/bin/bash -eu
# Build every fuzz/*_fuzzer.py for ClusterFuzzLite / OSS-Fuzz (docs/fuzzing.md).
# Runs in $SRC/fsmodel inside base-builder-python; writes into $OUT:
#   <name>_fuzzer                  compile_python_fuzzer's wrapper over a pyinstaller bundle
#   <name>_fuzzer_seed_corpus.zip  every file under corpus/<name>/, flattened (regressions/ too)
#   <name>_fuzzer.dict / .options  libFuzzer dictionary and [libfuzzer] options
# FSMODEL_SKIP_INSTALL=1 skips the pip step (the layout test runs this script locally).

# The Dockerfile's WORKDIR is the checkout; run it from there locally too.
if [ ! -d fuzz ] || [ ! -d corpus ]; then
  echo "build.sh: run me from the fsmodel checkout (no fuzz/ and corpus/ in $PWD)" >&2
  exit 1
fi

if [ "${FSMODEL_SKIP_INSTALL:-0}" != 1 ]; then
  pip3 install .
fi

for fuzzer in fuzz/*_fuzzer.py; do
  name=$(basename "$fuzzer" .py)     # layer_fuzzer
  target=${name%_fuzzer}             # layer
  # main() imports fsmodel's modules lazily inside atheris' instrumentation block, which
  # pyinstaller's import analysis cannot see: collect the whole package explicitly.
  # --collect-data takes its templates along.
  compile_python_fuzzer "$fuzzer" --collect-submodules fsmodel --collect-data fsmodel

  if [ -d "corpus/$target" ]; then
    rm -f "$OUT/${name}_seed_corpus.zip"
    # flat, as ClusterFuzz unpacks it: inputs are named by sha1, so names do not clash
    find "corpus/$target" -type f -print0 | xargs -0 -r zip -q -j "$OUT/${name}_seed_corpus.zip"
  fi
  for extra in dict options; do
    if [ -f "fuzz/$name.$extra" ]; then
      cp "fuzz/$name.$extra" "$OUT/$name.$extra"
    fi
  done
done

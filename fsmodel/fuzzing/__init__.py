"""Fuzzing fsmodel with atheris: targets, their invariants and a tar-aware mutator.

* :mod:`fsmodel.fuzzing.targets` — the registry ``TARGETS`` of :class:`~fsmodel.fuzzing.targets.Target`
  (``layer``, ``reader``, ``xattr``, ``kernel_diff``) and ``main(name)``, which instruments
  fsmodel and runs libFuzzer on one of them. ``fuzz/*_fuzzer.py`` are thin scripts over it.
* :mod:`fsmodel.fuzzing.harnesses` — each target's one-input function and the invariant
  checks it makes; a broken invariant raises :class:`~fsmodel.fuzzing.harnesses.InvariantViolation`.
* :mod:`fsmodel.fuzzing.mutator` — a custom mutator and crossover that parse tar into
  members and PAX records, change one member-level thing and write valid checksums.

Importing this package, or ``targets``, loads none of the code under test beyond what
``import fsmodel`` itself loads: ``main()`` imports the rest inside atheris'
instrumentation block (see ``targets`` for how the already-loaded part is instrumented).
"""

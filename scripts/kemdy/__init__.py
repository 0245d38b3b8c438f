"""The workflow's library: everything the step scripts in scripts/ share.

- release/  KEMDy20 facts, the reader (ingest), the wav and transcript checks, the decoded
            audio cache;
- labels/   re-labelling methods, agreement statistics, folds;
- train/    split and targets, batches, models, losses, embedding cache, loop, checkpoints,
            distributed training, two-stage combination;
- report/   summary, bootstrap, results and data sections, provenance, plots, templates;
- demo/     the look-alike generator, the demo encoders and their audio pre-training, and
            the toy corpora of the tests and benchmarks;
- classes, spec, metrics, runs, tables, atomic, errors, gpu_slots: shared by all of them.

A module here never imports a step script; each file the steps exchange has one owner
module (docs/contracts.md names it).
"""

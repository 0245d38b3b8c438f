"""Transfer between releases (issue 33.2, config `transfer:`): how far a model trained on one
KEMDy release carries to the other.

- plan.py: the config's section, checked when the workflow builds the DAG (two datasets,
  known variants, none with several seeds, a sweep or two stages) and its directions;
- split.py: each release's sessions cut once into train / val / test (sessions.csv), and
  each direction's new_data.csv and folds.csv, in folds.csv's format so train.py runs as is;
- scores.py: the matrix (trained on one release, the other, both, one then the other; tested
  on each), its figures over the classes present in each test set's labels, with session
  bootstrap intervals; results/transfer/matrix.csv, which the report recomputes.
"""

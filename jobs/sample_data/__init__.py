"""Synthetic MovieLens-shaped sample data (``python -m jobs.sample_data``).

Writes the ml-latest CSV layout (movies.csv, ratings.csv, tags.csv, links.csv) plus
users.csv and item_descriptions.csv, which ``jobs.ingest`` reads as the lambdarec sample
format. Seeded and deterministic: the same spec gives byte-identical files.

The ratings behave like MovieLens where it matters for recommender decisions: people rate
what they watched, and what they watch follows popularity (which drifts week by week) and
taste clusters, not quality; a long tail of item popularity; 20 + a heavy-tailed number of
ratings per user, in a sign-up burst and later sessions. The target statistics, their
sources and the achieved values are in README.md next to this file; ``python -m
jobs.sample_data.stats DIR`` measures them (and cheap baselines) on any ml-latest directory.
"""

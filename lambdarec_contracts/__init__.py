"""The only code shared between lambdarec's components.

Components (jobs, dbt, feature_repo, training, serving, dags) never import each
other; they exchange artifacts whose names, schemas and key layouts live here.
Keep this package small and free of heavy dependencies: it is imported by all
environments (pipeline, training, embeddings, serving).
"""

CONTRACTS_VERSION = "1"

"""lambdarec's Feast feature repository (definitions split by object kind).

``feast`` imports the definition modules as top-level modules with this folder
as the working directory; the jobs only use :mod:`feature_repo.feast_settings`.
"""

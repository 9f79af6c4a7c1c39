"""The bottom layer, which imports nothing else of the package: input errors and how they read, atomic writes, video
ids, the predictions file, the config base, and the one progress reporter."""

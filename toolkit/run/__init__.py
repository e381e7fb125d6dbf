"""Running a recipe: the pipeline, its plan shared with other ranks, run folders, the lock, distributed runs."""

"""`smallbot train`: turning a project into the `.smallbot/` build, step by step, rebuilding only what changed."""

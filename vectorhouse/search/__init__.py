"""Backend-neutral search logic: attribute filters (parse, evaluate) and score fusion."""

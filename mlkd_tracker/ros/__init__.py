"""ros layer (see DESIGN.md §2)."""

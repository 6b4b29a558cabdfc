"""runtime layer (see DESIGN.md §2)."""

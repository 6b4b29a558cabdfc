"""sim layer (see DESIGN.md §2)."""

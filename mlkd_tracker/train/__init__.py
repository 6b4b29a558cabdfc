"""Training entry points and loops (torch; never imported by the drone runtime)."""

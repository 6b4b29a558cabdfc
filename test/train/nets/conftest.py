"""Single-threaded torch for these tests (see test/support/torch_threads.py)."""
from torch_threads import _one_torch_thread  # noqa: F401

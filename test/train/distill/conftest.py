"""Distillation tests run single-threaded on tiny tensors (B <= 4, S <= 13, C <= 16), seeded."""
import pytest
import torch
from torch_threads import _one_torch_thread  # noqa: F401


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

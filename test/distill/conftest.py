"""Distillation tests run single-threaded on tiny tensors (B <= 4, S <= 13, C <= 16): they
share a 2-core machine with training jobs and must stay well under a few seconds."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

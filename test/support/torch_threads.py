"""Torch tests on tiny tensors run single-threaded: faster, and fair to tests running beside
them. A directory opts in by importing the fixture into its conftest.py."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

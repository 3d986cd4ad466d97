import pytest
import torch

from headkit.functional._serial import SERIAL_ELEMENTS, one_thread


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_small_passes_run_on_one_thread_and_the_count_comes_back(two_threads):
    with one_thread(SERIAL_ELEMENTS - 1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_large_passes_keep_the_callers_threads(two_threads):
    with one_thread(SERIAL_ELEMENTS):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2


def test_the_count_comes_back_after_an_error(two_threads):
    with pytest.raises(RuntimeError), one_thread(10):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_fused_step_leaves_the_thread_count_alone(two_threads):
    from headkit.functional.fused_network import dense_cross_entropy

    w1 = torch.randn(16, 8, requires_grad=True)
    b1 = torch.zeros(16, requires_grad=True)
    hw = torch.randn(3, 16, requires_grad=True)
    hb = torch.zeros(3, requires_grad=True)
    loss = dense_cross_entropy(
        torch.randn(32, 8), torch.randint(0, 3, (32,)), [w1], [b1], hw, hb, [0.5]
    )
    assert torch.get_num_threads() == 2
    loss.backward()
    assert torch.get_num_threads() == 2 and w1.grad is not None

"""The smooth unit step theta(x) exp(-1/x) (e3nn 0.6.0's `soft_unit_step`)."""

import torch


def soft_unit_step(x: torch.Tensor) -> torch.Tensor:
    """theta(x) * exp(-1/x), elementwise: x [...] -> [...]; C-infinity, 0 for x <= 0.

    Same values and first derivative (exp(-1/x) / x^2) as e3nn's. e3nn writes the derivative by
    hand in an autograd.Function; here plain torch ops give it by autograd, so the function is
    also twice differentiable, TorchScript-able and compiles without graph breaks.
    """
    positive = x > 0.0
    # exp(-1/x) is evaluated only where x > 0; elsewhere a dummy 1 keeps values and gradients finite.
    safe_x = torch.where(positive, x, torch.ones_like(x))
    return torch.where(positive, torch.exp(-1.0 / safe_x), torch.zeros_like(x))

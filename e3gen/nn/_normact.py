"""Norm-based activation (e3nn 0.6.0's `nn.NormActivation`): rescale each irrep copy by a function of its norm."""

from typing import Callable, Optional

import torch

from e3gen.nn._e3nn_state import NormState, WeightlessProductState
from e3gen.o3 import Irreps
from e3gen.o3._input_checks import check_float_tensors


class NormActivation(torch.nn.Module):
    """features [..., irreps_in.dim] -> [..., irreps_in.dim]; for each irrep copy x (2l+1 components):

        n = |x| (Euclidean norm over the components)
        normalize=True:  x -> f(n + b) * x / n, with n clamped up to ``epsilon`` (default 1e-8)
        normalize=False: x -> f(n + b) * x

    ``f`` is ``scalar_nonlinearity`` as given (e3nn does not normalise it here); ``b`` is the
    learnable ``biases`` [num_irreps] (zero-initialised) when ``bias=True``. The clamp happens on
    n^2 < epsilon^2, as in e3nn, so clamped copies get no gradient through n.

    Difference from e3nn 0.6.0: there, ``normalize=False`` raises a TypeError (its epsilon check
    compares None > 0); here it works as documented above.
    """

    epsilon: Optional[float]
    _eps_squared: float

    def __init__(
        self,
        irreps_in,
        scalar_nonlinearity: Callable[[torch.Tensor], torch.Tensor],
        normalize: bool = True,
        epsilon: Optional[float] = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        irreps_in = Irreps(irreps_in)
        name = f"NormActivation({irreps_in})"
        if epsilon is None and normalize:
            epsilon = 1e-8
        elif epsilon is not None and not normalize:
            raise ValueError(f"{name}: epsilon={epsilon} only applies when normalize=True (it guards the division by the norm)")
        elif epsilon is not None and not epsilon > 0:
            raise ValueError(f"{name}: epsilon must be strictly positive, got {epsilon}")
        self.irreps_in = irreps_in
        self.irreps_out = irreps_in
        self.epsilon = epsilon
        self._eps_squared = 0.0 if epsilon is None else epsilon * epsilon
        self.scalar_nonlinearity = scalar_nonlinearity
        self.normalize = normalize
        self.bias = bias
        if bias:
            self.biases = torch.nn.Parameter(torch.zeros(irreps_in.num_irreps))

        copy_of_component = [copy for copy, l in enumerate(irreps_in.ls) for _ in range(2 * l + 1)]
        self.register_buffer("_copy_index", torch.tensor(copy_of_component, dtype=torch.long), persistent=False)
        self._num_irreps = irreps_in.num_irreps
        self._dim = irreps_in.dim
        self._name = name
        self.norm = NormState(irreps_in.num_irreps)
        self.scalar_multiplier = WeightlessProductState(irreps_in.dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # (numpy or integer input would fail inside torch)
            check_float_tensors(self._name, {"features": features})
        if features.dim() == 0 or features.shape[-1] != self._dim:
            raise ValueError(f"{self._name}: expected features of shape [..., {self._dim}], got shape {list(features.shape)}")
        squares = features.pow(2)
        shape = list(features.shape[:-1]) + [self._num_irreps]
        squared_norms = features.new_zeros(shape).index_add(-1, self._copy_index, squares)
        if self._eps_squared > 0:
            norms = torch.where(squared_norms < self._eps_squared, self._eps_squared, squared_norms).sqrt()
        else:
            # e3nn's Norm: relu keeps sqrt's argument non-negative
            norms = squared_norms.relu().sqrt()
        argument = norms
        if self.bias:
            argument = argument + self.biases
        scalings = self.scalar_nonlinearity(argument)
        if self.normalize:
            scalings = scalings / norms
        return features * scalings.index_select(-1, self._copy_index)

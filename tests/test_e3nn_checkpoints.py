"""A TensorProduct checkpoint made on e3nn carries e3nn's wigner_3j (keys
`<prefix>_compiled_main_*._w3j_l1_l2_l3`); e3gen checks their signs at load time
(e3gen/o3/_e3nn_checkpoints.py). The venv tests (test_clients_e3nn_versions.py) load real e3nn 0.4.4
checkpoints; these build the same keys here, so the rule is checked without the client venvs.

Properties: a carried tensor equal to e3gen's (e3nn >= 0.5.0), or of a triple no instruction uses,
loads silently and is dropped; the negative of e3gen's on a used triple (e3nn 0.4.4 on (1, 2, 2))
is refused with a RuntimeError naming the module, the prefix, the triple and the fix, also under
a parent module's prefix.
"""

import pytest
import torch

from e3gen import o3


def _checkpoint(tp, prefix="", **carried):
    state = {prefix + k: v for k, v in tp.state_dict().items()}
    state.update({f"{prefix}_compiled_main_left_right._w3j_{k}": v for k, v in carried.items()})
    return state


def test_carried_wigner_3j_of_e3gens_sign_or_of_an_unused_triple_loads_and_is_dropped():
    tp = o3.FullyConnectedTensorProduct("2x1o", "2e", "2x2o")
    tp.load_state_dict(_checkpoint(tp, **{"1_2_2": o3.wigner_3j(1, 2, 2), "1_3_3": -o3.wigner_3j(1, 3, 3)}), strict=True)


@pytest.mark.parametrize("prefix", ["", "interaction.conv_tp."])
def test_carried_wigner_3j_of_opposite_sign_on_a_used_path_is_refused_naming_module_triple_and_fix(prefix):
    tp = o3.FullyConnectedTensorProduct("2x1o + 1x1e", "2e", "2x2o + 1x3e")
    model = torch.nn.Module()
    if prefix:
        model.interaction = torch.nn.Module()
        model.interaction.conv_tp = tp
    else:
        model = tp
    state = _checkpoint(tp, prefix, **{"1_2_2": -o3.wigner_3j(1, 2, 2), "1_2_3": o3.wigner_3j(1, 2, 3)})
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state, strict=True)
    message = str(error.value)
    assert "FullyConnectedTensorProduct(" in message and repr(prefix) in message and "Fix:" in message
    assert "wigner_3j(1, 2, 2)" in message and "(1, 2, 3)" not in message

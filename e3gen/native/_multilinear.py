"""The backward of every native op: each computes the derivatives of one multilinear form F of its
operands (x, y[, w], g), and F is linear in each slot, so the gradient of a result (role r, the
derivative of F with respect to operand r) with respect to another operand q is the same op asked
for role q with the incoming gradient h in slot r. One call per incoming gradient computes every
wanted operand's part; parts from several results add up."""

from typing import Callable, List, Optional, Sequence

from torch import Tensor


def slot_gradients(roles: Sequence[int], grads: Sequence[Optional[Tensor]], operands: Sequence[Tensor],
                   wanted: Sequence[bool], call: Callable[[List[int], List[Tensor]], Sequence[Tensor]]) -> List[Optional[Tensor]]:
    """[gradient of the loss with respect to operand q, or None] for q in range(len(operands)):
    roles[i] is the role of the op's i-th result and grads[i] its incoming gradient (None: unused);
    wanted[q] says whether operand q needs one; call(targets, slots) runs the op for those roles."""
    result: List[Optional[Tensor]] = [None] * len(operands)
    for r, h in zip(roles, grads):
        targets = [q for q in range(len(operands)) if q != r and wanted[q]]
        if h is None or not targets:
            continue
        slots = list(operands)
        slots[r] = h
        for q, part in zip(targets, call(targets, slots)):
            result[q] = part if result[q] is None else result[q] + part
    return result

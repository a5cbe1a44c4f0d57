"""e3nn 0.6.0's example networks (`e3nn.nn.models`) on e3gen's layers: `gate_points_2101`, `gate_points_2102`,
`v2106` (e3nn's v2103 and v2104 need torch_scatter / torch_geometric or are voxel models, and are not ported)."""

from e3gen.nn.models import gate_points_2101, gate_points_2102, v2106
from e3gen.nn.models.v2106 import gate_points_message_passing, gate_points_networks, points_convolution  # noqa: F401

__all__ = ["gate_points_2101", "gate_points_2102", "v2106"]

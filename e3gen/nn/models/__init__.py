"""e3nn 0.6.0's example networks (`e3nn.nn.models`) on e3gen's layers: `gate_points_2101`, `gate_points_2102`."""

from e3gen.nn.models import gate_points_2101, gate_points_2102

__all__ = ["gate_points_2101", "gate_points_2102"]

"""e3nn 0.6.0's example networks of June 2021 (`e3nn.nn.models.v2106`) on e3gen's layers:
`points_convolution.Convolution`, `gate_points_message_passing.MessagePassing`,
`gate_points_networks.SimpleNetwork` and `NetworkForAGraphWithAttributes`."""

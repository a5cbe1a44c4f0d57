"""e3nn.nn.models: the example networks, from `e3gen.nn.models` when e3gen has them."""

"""The pure core: geometry, the action-image codec, action chunks, kinematics, safety.

Nothing in this package imports ROS; everything is batched numpy/torch.
"""

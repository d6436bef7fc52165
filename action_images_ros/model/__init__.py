"""The video-action model: denoisers (a per-view UNet, the Wan transformer), the diffusers
pipeline that samples them in four modes, self-describing model directories and their loader,
the policy and labeling on top, and training. See docs/model.md.

Pure: no ROS imports.
"""

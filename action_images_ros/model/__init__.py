"""The video-action model: a diffusers Wan transformer over multi-view RGB and action-image clips.

Pure: no ROS imports. See `video_action_model` for the token layout and the four modes.
"""

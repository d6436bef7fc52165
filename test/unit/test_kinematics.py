"""Forward kinematics, Jacobian and DLS IK of the URDF-built chain (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from action_images_ros.core.kinematics import KinematicsError, SerialChain, parse_urdf
from action_images_ros.core.robot_assets import PANDA_URDF as URDF_PATH
from action_images_ros.core.robot_assets import panda_chain
from action_images_ros.core.rotations import euler_to_matrix, quat_to_matrix, rotation_error

TWO_LINK = """<robot name="t">
  <link name="base"/><link name="a"/><link name="b"/><link name="tip"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="a"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/><limit lower="-3" upper="3" velocity="1"/></joint>
  <joint name="j2" type="prismatic"><parent link="a"/><child link="b"/>
    <origin xyz="0.5 0 0"/><axis xyz="1 0 0"/><limit lower="0" upper="0.3" velocity="1"/></joint>
  <joint name="fix" type="fixed"><parent link="b"/><child link="tip"/>
    <origin xyz="0.1 0 0" rpy="0 0 1.5707963267948966"/></joint>
</robot>"""


@pytest.fixture(scope="module")
def chain() -> SerialChain:
    return panda_chain()


def random_q(chain: SerialChain, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    shape = (chain.dof,) if n is None else (n, chain.dof)
    return rng.uniform(chain.lower, chain.upper, shape)


def test_panda_chain_from_urdf(chain: SerialChain) -> None:
    assert chain.joint_names == [f"panda_joint{i}" for i in range(1, 8)]
    np.testing.assert_allclose(chain.lower[[1, 3, 5]], [-1.7628, -3.0718, -0.0175])
    np.testing.assert_allclose(chain.upper[[3, 5]], [-0.0698, 3.7525])
    np.testing.assert_allclose(chain.velocity_limits, [2.175] * 4 + [2.61] * 3)
    # q = 0: the arm stands upright and the hand points down (Panda DH offsets: links 0.333,
    # 0.316, 0.384 up, a = 0.088 forward, flange 0.107 and hand tcp 0.1034 down).
    pos, quat = chain.forward_kinematics(np.zeros(7))
    np.testing.assert_allclose(pos, [0.088, 0.0, 0.333 + 0.316 + 0.384 - 0.107 - 0.1034], atol=1e-9)
    rot = quat_to_matrix(quat)
    np.testing.assert_allclose(rot[:, 2], [0, 0, -1], atol=1e-9)  # approach axis points down


def test_small_chain_with_prismatic_and_fixed_tip() -> None:
    chain = SerialChain.from_urdf(TWO_LINK, "base", "tip")
    assert chain.joint_names == ["j1", "j2"]
    t = chain.fk(np.array([np.pi / 2, 0.2]))
    np.testing.assert_allclose(t[:3, 3], [0.0, 0.8, 0.1], atol=1e-12)
    np.testing.assert_allclose(t[:3, :3], euler_to_matrix(np.array([0, 0, np.pi])), atol=1e-12)
    joints = parse_urdf(TWO_LINK)
    assert joints["j2"].type == "prismatic" and joints["j2"].upper == 0.3


def test_missing_link_raises() -> None:
    with pytest.raises(KinematicsError, match="no joint chain"):
        SerialChain.from_urdf(URDF_PATH, "panda_link0", "no_such_link")
    with pytest.raises(KinematicsError, match="expected 7"):
        panda_chain().fk(np.zeros(6))


def test_batched_fk_matches_single(chain: SerialChain) -> None:
    qs = random_q(chain, np.random.default_rng(2), 16).reshape(4, 4, 7)
    batch = chain.fk(qs)
    assert batch.shape == (4, 4, 4, 4)
    np.testing.assert_allclose(batch[2, 3], chain.fk(qs[2, 3]), atol=1e-12)
    pos, quat = chain.forward_kinematics(qs)
    assert pos.shape == (4, 4, 3) and quat.shape == (4, 4, 4)


def test_jacobian_matches_finite_differences(chain: SerialChain) -> None:
    rng = np.random.default_rng(3)
    qs = random_q(chain, rng, 5)
    jac = chain.jacobian(qs)
    assert jac.shape == (5, 6, 7)
    eps = 1e-6
    for b, q in enumerate(qs):
        t0 = chain.fk(q)
        for i in range(7):
            dq = np.zeros(7)
            dq[i] = eps
            t1 = chain.fk(q + dq)
            np.testing.assert_allclose((t1[:3, 3] - t0[:3, 3]) / eps, jac[b, :3, i], atol=1e-5)
            omega = rotation_error(t1[:3, :3], t0[:3, :3]) / eps
            np.testing.assert_allclose(omega, jac[b, 3:, i], atol=1e-5)


def test_ik_reaches_random_reachable_poses(chain: SerialChain) -> None:
    rng = np.random.default_rng(4)
    home = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785])
    for _ in range(20):
        q_goal = np.clip(home + rng.uniform(-0.6, 0.6, 7), chain.lower, chain.upper)
        pos, quat = chain.forward_kinematics(q_goal)
        res = chain.inverse_kinematics(pos, quat, home, restarts=3, rng=np.random.default_rng(0))
        assert res.converged, res
        got_pos, got_quat = chain.forward_kinematics(res.q)
        assert np.linalg.norm(got_pos - pos) < 1e-4
        assert np.linalg.norm(rotation_error(quat_to_matrix(quat), quat_to_matrix(got_quat))) < 1e-3
        assert np.all(res.q >= chain.lower) and np.all(res.q <= chain.upper)


def test_ik_position_only_and_weights(chain: SerialChain) -> None:
    home = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785])
    res = chain.inverse_kinematics(np.array([0.5, 0.2, 0.3]), None, home)
    assert res.converged and res.rotation_error == 0.0
    assert np.linalg.norm(chain.fk(res.q)[:3, 3] - [0.5, 0.2, 0.3]) < 1e-4


def test_ik_reports_failure_for_unreachable_target(chain: SerialChain) -> None:
    home = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785])
    res = chain.inverse_kinematics(
        np.array([2.0, 0.0, 0.5]), np.array([0, 0, 0, 1.0]), home, max_iterations=50
    )
    assert not res.converged
    assert res.position_error > 0.9  # the Panda reaches about 0.85 m
    assert np.all(res.q >= chain.lower) and np.all(res.q <= chain.upper)
    assert res.iterations == 50


def test_fk_matches_mujoco_site(chain: SerialChain) -> None:
    mujoco = pytest.importorskip("mujoco", reason="mujoco is not installed")
    from action_images_ros.core.robot_assets import ARM_JOINTS
    from action_images_ros.sim.scene import build_mjcf

    model = mujoco.MjModel.from_xml_string(build_mjcf())
    data = mujoco.MjData(model)
    adr = [model.joint(j).qposadr[0] for j in ARM_JOINTS]
    rng = np.random.default_rng(5)
    for q in random_q(chain, rng, 50):
        data.qpos[adr] = q
        mujoco.mj_kinematics(model, data)
        t = chain.fk(q)
        site = data.site("tcp")
        assert np.linalg.norm(site.xpos - t[:3, 3]) < 1e-3
        angle = np.linalg.norm(rotation_error(site.xmat.reshape(3, 3), t[:3, :3]))
        assert np.rad2deg(angle) < 0.1

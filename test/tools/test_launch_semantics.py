"""The launch reader means what ``ros2 launch`` means (launch / launch_ros XML semantics):
conditions, scoped groups and includes, namespaces, empty values, respawn, refusals; and the
runner stops every node on SIGTERM and names the node that exits."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.node import Node

from mlkd_tracker.tools.launch_xml import LaunchError, LaunchPlan, NodeSpec, load_launch
from mlkd_tracker.tools.process_group import ProcessGroup

REPO = Path(__file__).resolve().parents[2]
SHARE = REPO  # the editable install's share directory is the repository


def _write(tmp_path: Path, body: str, name: str = "t.launch.xml") -> Path:
    path = tmp_path / name
    path.write_text(f"<launch>\n{body}\n</launch>\n")
    return path


def _node(exec_: str = "follow_node", extra: str = "", inner: str = "") -> str:
    return f'<node pkg="mlkd_tracker" exec="{exec_}" name="{exec_}" {extra}>{inner}</node>'


# --- the shipped launch files, as ros2 launch would run them with their defaults -----------------
CONFIG = SHARE / "config"
EXPECTED = {
    "sim_demo.launch.xml": {
        "sim_node": ([CONFIG / "sim.yaml"], {"seed": "0", "darkness": "night", "occluders": "0"}, []),
        "tracker_node": ([CONFIG / "tracker.yaml"], {}, []),
        "follow_node": ([CONFIG / "follow.yaml"], {}, []),
    },
    "camera_tracking.launch.xml": {
        "camera_node": ([CONFIG / "camera.yaml"], {"source": "0"}, []),
        "tracker_node": ([CONFIG / "tracker.yaml"], {}, []),
    },
    "camera_enhance_track.launch.xml": {
        "camera_node": ([CONFIG / "camera.yaml"], {"source": "0"}, []),
        "enhancer_node": ([CONFIG / "enhancer.yaml"], {"gate_enabled": "false"}, []),
        "tracker_node": ([CONFIG / "tracker.yaml"], {}, [("image_raw", "image_enhanced")]),
    },
    "camera_detect_track.launch.xml": {
        "camera_node": ([CONFIG / "camera.yaml"], {"source": "0"}, []),
        "detector_node": ([CONFIG / "detector.yaml"], {}, [("detections", "detections")]),
        "tracker_node": ([CONFIG / "tracker.yaml"],
                         {"auto_acquire": "true", "redetect_when_lost": "true", "acquire_classes": ""},
                         [("detections", "detections")]),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_launch_files_start_the_nodes_ros2_launch_would(name):
    plan = load_launch(REPO / "launch" / name, environ={})
    got = {n.name: (n.param_files, n.params, n.remaps) for n in plan.nodes}
    assert got == EXPECTED[name]
    assert all(n.namespace == "" and not n.respawn for n in plan.nodes)
    assert plan.env == {"FASTDDS_DEFAULT_PROFILES_FILE": str(CONFIG / "fastdds.xml")}


def test_an_empty_argument_value_reaches_the_node_as_an_empty_string():
    """launch_ros passes '' for an empty value; rcl refuses a bare `-p name:=`."""
    plan = load_launch(REPO / "launch" / "camera_detect_track.launch.xml", environ={})
    tracker = next(n for n in plan.nodes if n.name == "tracker_node")
    cmd = tracker.command()
    rule = cmd[cmd.index("acquire_classes:=''")]
    context = rclpy.Context()
    rclpy.init(args=["prog", "--ros-args", "-p", rule], context=context)
    try:
        node = Node("probe", context=context)
        assert node.declare_parameter("acquire_classes", "any").value == ""
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


# --- conditions --------------------------------------------------------------------------------
@pytest.mark.parametrize("value, started", [("false", False), ("true", True), ("0", False),
                                            ("1", True), ("True", True), ("FALSE", False)])
def test_if_and_unless_on_a_node(tmp_path, value, started):
    path = _write(tmp_path, '<arg name="use" default="false"/>'
                  + _node("follow_node", 'if="$(var use)"') + _node("camera_node", 'unless="$(var use)"'))
    names = [n.name for n in load_launch(path, {"use": value}).nodes]
    assert names == (["follow_node"] if started else ["camera_node"])


def test_a_condition_that_is_not_a_boolean_is_refused(tmp_path):
    path = _write(tmp_path, _node(extra='if="maybe"'))
    with pytest.raises(LaunchError, match="maybe"):
        load_launch(path)


def test_conditions_apply_to_groups_and_includes(tmp_path):
    inner = _write(tmp_path, _node("camera_node"), "inner.launch.xml")
    path = _write(tmp_path, f'<group if="false">{_node()}</group>'
                  f'<include file="{inner}" unless="true"/>')
    assert load_launch(path).nodes == []


# --- scopes and namespaces ---------------------------------------------------------------------
@pytest.mark.parametrize("node_ns, pushed, expected", [
    ("uav1", "", "/uav1"),          # relative: made absolute (rcl refuses __ns:=uav1)
    ("/abs", "", "/abs"),
    ("cam", "uav1", "/uav1/cam"),   # relative below the pushed namespace
    ("/abs", "uav1", "/abs"),       # absolute ignores it
    ("", "uav1", "/uav1"),
    ("", "", ""),
])
def test_namespaces_resolve_as_launch_ros_does(tmp_path, node_ns, pushed, expected):
    push = f'<push-ros-namespace namespace="{pushed}"/>' if pushed else ""
    path = _write(tmp_path, f"<group>{push}{_node(extra=f'namespace={chr(34)}{node_ns}{chr(34)}')}</group>")
    (node,) = load_launch(path).nodes
    assert node.namespace == expected
    if expected:
        assert ["-r", f"__ns:={expected}"] == node.command()[-2:]


def test_a_scoped_group_keeps_its_arguments_namespace_and_environment(tmp_path):
    path = _write(tmp_path, '<let name="x" value="outer"/>'
                  '<group><let name="x" value="inner"/><push-ros-namespace namespace="g"/>'
                  '<set_env name="E" value="1"/>'
                  + _node("camera_node", inner='<param name="source" value="$(var x)"/>') + "</group>"
                  + _node("follow_node", inner='<param name="p" value="$(var x)"/>'))
    plan = load_launch(path, environ={})
    camera, follow = plan.nodes
    assert (camera.params, camera.namespace, camera.env) == ({"source": "inner"}, "/g", {"E": "1"})
    assert (follow.params, follow.namespace, follow.env) == ({"p": "outer"}, "", {})


def test_an_unscoped_group_leaks_what_it_sets(tmp_path):
    path = _write(tmp_path, '<group scoped="false"><let name="x" value="set"/></group>'
                  + _node(inner='<param name="p" value="$(var x)"/>'))
    assert load_launch(path).nodes[0].params == {"p": "set"}


def test_include_passes_its_args_and_keeps_the_included_scope(tmp_path):
    inner = _write(tmp_path, '<arg name="seed" default="0"/><arg name="other" default="d"/>'
                   + _node("sim_node", inner='<param name="seed" value="$(var seed)"/>'
                           '<param name="o" value="$(var other)"/>'), "inner.launch.xml")
    path = _write(tmp_path, f'<include file="{inner}"><arg name="seed" value="7"/></include>'
                  + _node(inner='<param name="p" value="x"/>'))
    plan = load_launch(path)
    assert [n.params for n in plan.nodes] == [{"seed": "7", "o": "d"}, {"p": "x"}]
    with pytest.raises(LaunchError, match="seed"):
        load_launch(path, {"seed": "3"})  # not an argument of the including file


def test_command_line_arguments_reach_an_included_file_unless_the_include_sets_them(tmp_path):
    inner = _write(tmp_path, '<arg name="x" default="d"/><arg name="y" default="d"/>'
                   + _node(inner='<param name="x" value="$(var x)"/><param name="y" value="$(var y)"/>'),
                   "inner.launch.xml")
    path = _write(tmp_path, f'<include file="{inner}"><arg name="y" value="from_include"/></include>')
    (node,) = load_launch(path, {"x": "from_command_line"}).nodes
    assert node.params == {"x": "from_command_line", "y": "from_include"}


def test_node_args_are_split_like_a_shell(tmp_path):
    (node,) = load_launch(_write(tmp_path, _node(extra="args=\"--name 'a b' -v\""))).nodes
    assert node.args == ["--name", "a b", "-v"]


# --- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("body, named", [
    (_node(extra='launch-prefix="gdb"'), "'launch-prefix'"),
    (_node(inner='<env name="A" value="1"/>'), "<env>"),
    ('<executable cmd="ls"/>', "<executable>"),
    ('<arg name="a" default="1" choices="1 2"/>', "'choices'"),
    (_node(extra='respawn="sometimes"'), "respawn"),
    (_node(inner='<param name="p" value="$(command ls)"/>'), "command"),
])
def test_anything_else_is_refused_with_the_element_and_attribute_named(tmp_path, body, named):
    with pytest.raises(LaunchError, match=named.replace("(", r"\(")):
        load_launch(_write(tmp_path, body))


def test_respawn_and_its_delay_are_read(tmp_path):
    (node,) = load_launch(_write(tmp_path, _node(extra='respawn="true" respawn_delay="0.5"'))).nodes
    assert (node.respawn, node.respawn_delay) == (True, 0.5)


# --- the process group -------------------------------------------------------------------------
class _ScriptSpec(NodeSpec):
    """A 'node' that is a Python one-liner, to test the runner without ROS."""
    def __init__(self, name: str, code: str, **kw):
        super().__init__(pkg="mlkd_tracker", exec=name, name=name, **kw)
        self.code = code

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.code]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _until(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


DIES = "import sys; print('starting'); print('ValueError: bad model file'); print('bye'); sys.exit(3)"


def test_a_node_that_exits_is_named_with_its_code_and_last_error_line(tmp_path):
    group = ProcessGroup(LaunchPlan(nodes=[_ScriptSpec("dies", DIES)]), log_dir=tmp_path).start()
    try:
        (run,) = _until(group.poll)
        assert run.label == "dies" and run.proc.returncode == 3
        assert run.last_error_line() == "ValueError: bad model file"
    finally:
        group.stop()


def test_a_respawn_node_is_restarted_after_its_delay(tmp_path):
    spec = _ScriptSpec("flaky", DIES, respawn=True, respawn_delay=0.2)
    group = ProcessGroup(LaunchPlan(nodes=[spec]), log_dir=tmp_path).start()
    log = tmp_path / "flaky.log"
    try:
        # never reported as ended; each run's output is appended to the log, not replaced
        _until(lambda: group.poll() == [] and log.read_text().count("bye") >= 3)
    finally:
        group.stop()
    assert group.running[0].respawns >= 2


@pytest.mark.ros
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_runner_stops_every_node_on_sigterm_and_sigint(tmp_path, ros_env, sig):
    path = _write(tmp_path, _node("follow_node") + _node("camera_node", inner='<param name="source" value="/nonexistent.avi"/>'))
    # Started with SIGINT ignored, as a shell starts a background job: the runner must still stop.
    runner = subprocess.Popen([str(Path(sys.executable).with_name("mlkd-tracker")), "launch", str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    pids = []
    try:
        while len(pids) < 2:
            line = runner.stdout.readline()
            assert line, "the runner ended before starting its nodes"
            if line.startswith("[launch] started"):
                pids.append(int(line.rsplit("pid ", 1)[1].rstrip(")\n")))
        # keep reading, as a terminal does: a full pipe would block the runner's output
        threading.Thread(target=runner.stdout.read, daemon=True).start()
        runner.send_signal(sig)
        assert runner.wait(timeout=30) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
        alive = [pid for pid in pids if _alive(pid)]
        for pid in alive:  # a failed runner must not leave its nodes behind for later tests
            os.killpg(pid, signal.SIGKILL)
    assert not alive, f"nodes still running after the runner stopped: {alive}"


@pytest.mark.ros
def test_the_runner_exits_2_naming_a_node_that_refused_its_parameters(tmp_path, ros_env):
    path = _write(tmp_path, _node("follow_node", inner='<param name="max_rate" value="-5.0"/>'))
    result = subprocess.run([str(Path(sys.executable).with_name("mlkd-tracker")), "launch", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "follow_node" in result.stderr and "exited with code 2" in result.stderr
    assert "max_rate" in result.stderr


def test_user_errors_are_one_line_with_exit_2(tmp_path):
    exe = str(Path(sys.executable).with_name("mlkd-tracker"))
    for argv in (["launch", "missing.launch.xml"], ["launch", "sim_demo.launch.xml", "sed:=2"],
                 ["launch", "sim_demo.launch.xml", "seed"]):
        result = subprocess.run([exe, *argv], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

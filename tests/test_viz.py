"""minigrad.viz: the DOT text of the recorded graph, and drawing it with Graphviz.

Drawing tests need Graphviz's `dot`: they skip without it, except under CI
(env CI set), where a missing `dot` is a failure.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import models, viz
from tests.helpers import DEVICES, on

ROOT = Path(__file__).resolve().parents[1]
EDGE = re.compile(r"^\s*(\w+) -> (\w+) \[label=\"([^\"]*)\"\];$", re.MULTILINE)
NODE = re.compile(r"^\s*(\w+) \[[^\]]*label=\"((?:[^\"\\]|\\.)*)\"\];$", re.MULTILINE)




def need_dot():
    """The path of Graphviz's dot; skip without it, fail without it under CI."""
    program = shutil.which("dot")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz's dot must be installed under CI (apt-get install -y graphviz)")
        pytest.skip("Graphviz's dot is not installed")
    return program


def nodes(dot):
    """{node id: its label lines}."""
    return {node: label.split("\\n") for node, label in NODE.findall(dot)}


def edges(dot):
    """[(source, target, label)] in the order written."""
    return EDGE.findall(dot)


def op_node(dot, name):
    """The ids of the op nodes whose first label line is ``name``."""
    return [node for node, lines in nodes(dot).items() if lines[0] == name]


def neuron(device="cpu"):
    """o = relu(x1·w1 + x2·w2 + b) on scalars; returns (o, {name: leaf})."""
    values = {"x1": 2.0, "x2": 0.5, "w1": -1.5, "w2": 4.0, "b": 3.0}
    leaves = {name: on(device, np.float32(value)) for name, value in values.items()}
    x1, x2, w1, w2, b = leaves.values()
    return F.relu(x1 * w1 + x2 * w2 + b), leaves


def fixed_step(batch_size=2):
    """The loss of the fixed network on a random batch, and its named parameters."""
    minigrad.manual_seed(0)
    model = models.fixed_res_cnn()
    rng = np.random.default_rng(0)
    images = minigrad.tensor(rng.random((batch_size, 1, 28, 28), dtype=np.float32))
    loss = F.cross_entropy(model(images), rng.integers(0, 10, batch_size))
    return loss, dict(model.named_parameters())


def test_every_op_shows_its_name_and_math():
    out, leaves = neuron()
    dot = viz.to_dot(out, params=leaves)
    for fn in (out.grad_fn, out.grad_fn.parents[0]):  # ReLU and the last Add
        math = type(fn).__doc__.strip().splitlines()[0]
        label = nodes(dot)[op_node(dot, type(fn).__name__)[0]]
        assert " ".join(label[1:]) == re.sub(r"\s{3,}", " ", math)
    assert len(op_node(dot, type(out.grad_fn.parents[0]).__name__)) == 2  # two adds
    assert len(op_node(dot, "Mul")) == 2


def test_tensors_show_name_shape_dtype_and_value():
    out, leaves = neuron()
    labels = list(nodes(viz.to_dot(out, params=leaves)).values())
    assert ["w1", "() float32", "value -1.5"] in labels
    assert ["() float32", "value 2"] in labels  # the output, relu(-3 + 2 + 3)


def test_graph_counts_and_data_flow_order():
    out, leaves = neuron()
    dot = viz.to_dot(out, params=leaves)
    assert len(nodes(dot)) == 5 + 5 + 1  # leaves, ops, output
    written = edges(dot)
    assert len(written) == 4 + 2 + 2 + 1 + 1  # Mul, Mul, Add, Add, ReLU inputs; the output
    # Data-flow order: every arrow into a node comes before the arrows out of it.
    for i, (source, _, _) in enumerate(written):
        assert all(target != source for _, target, _ in written[i:])


def test_a_tensor_used_twice_gets_two_arrows():
    a = minigrad.tensor([1.0, 2.0], requires_grad=True)
    y = a * 3
    dot = viz.to_dot((y * y).sum(), params={"a": a})
    muls = op_node(dot, "Mul")
    between = [label for source, target, label in edges(dot) if source in muls and target in muls]
    assert between == ["a (2,)", "b (2,)"]  # y feeds the outer Mul twice
    (leaf,) = [node for node, lines in nodes(dot).items() if lines[0] == "a"]
    assert [label for source, _, label in edges(dot) if source == leaf] == ["a (2,)"]


def test_arrows_carry_input_names_and_shapes_and_constants_say_no_grad():
    loss, params = fixed_step()
    dot = viz.to_dot(loss, params=params)
    labels = {label for _, _, label in edges(dot)}
    assert {"x (2, 1, 28, 28)", "weight (16, 1, 3, 3)", "bias (16,)", "q (2, 10)"} <= labels
    assert {"log_probs (2, 10)", "weight (10, 576)"} <= labels
    no_grad = [node for node, lines in nodes(dot).items() if lines == ["no grad"]]
    # the images, the labels as a target distribution q, and the batch size the mean divides by
    assert len(no_grad) == 3


def test_modules_are_clusters_holding_their_parameters_and_ops():
    loss, params = fixed_step()
    dot = viz.to_dot(loss, params=params)
    clusters = re.findall(r"subgraph cluster_\d+ \{\n(.*?)\n  \}", dot, re.DOTALL)
    assert len(clusters) == 4
    for body, module in zip(clusters, ["0", "3", "6", "10"]):
        labels = [label.split("\\n")[0] for _, label in NODE.findall(body)]
        assert f'label="module {module}"' in body
        assert sorted(labels)[:2] == [f"{module}.bias", f"{module}.weight"]
        assert len(labels) == 3  # the two parameters and the op that uses them


def cluster_labels(dot):
    """The first label line of every node, per cluster, in the order written."""
    bodies = re.findall(r"subgraph cluster_\d+ \{\n(.*?)\n  \}", dot, re.DOTALL)
    return [[label.split("\\n")[0] for _, label in NODE.findall(body)] for body in bodies]


def test_only_dotted_names_make_modules_and_an_op_joins_one_module_only():
    a, b, c = (minigrad.tensor(1.0, requires_grad=True) for _ in range(3))
    assert cluster_labels(viz.to_dot(a * b + c, params={"m.a": a, "m.b": b, "c": c})) == [
        ["m.a", "m.b", "Mul"]]
    assert cluster_labels(viz.to_dot(a * b, params={"m.a": a, "n.b": b})) == [["m.a"], ["n.b"]]
    assert cluster_labels(viz.to_dot(a * b, params={"a": a, "b": b})) == []


def test_gradient_shape_and_norm_are_shown():
    w = minigrad.tensor([[3.0, 0.0]], requires_grad=True)
    s = minigrad.tensor(1.0, requires_grad=True)
    out = (w * s).sum()
    w.grad, s.grad = np.array([[3.0, 4.0]], dtype=np.float32), np.array(-0.25, dtype=np.float32)
    labels = list(nodes(viz.to_dot(out, params={"w": w, "s": s})).values())
    assert ["w", "(1, 2) float32", "grad (1, 2), norm 5"] in labels
    assert ["s", "() float32", "value 1", "grad -0.25"] in labels


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_after_backward_with_retain_graph(device):
    a = on(device, np.array([[3.0, 4.0], [0.0, 12.0]], dtype=np.float32))
    loss = (a * a).sum() / 2  # d loss / da = a: norm 13
    loss.backward(retain_graph=True)
    assert ["a", "(2, 2) float32", "grad (2, 2), norm 13"] in nodes(
        viz.to_dot(loss, params={"a": a})).values()
    out, leaves = neuron(device)
    out.backward(retain_graph=True)
    labels = list(nodes(viz.to_dot(out, params=leaves)).values())
    assert ["x1", "() float32", "value 2", "grad -1.5"] in labels  # d out / d x1 = w1
    assert ["b", "() float32", "value 3", "grad 1"] in labels


def test_a_released_graph_says_to_retain_it():
    loss, params = fixed_step()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"backward\(retain_graph=True\)"):
        viz.to_dot(loss, params=params)


def test_a_leaf_alone_is_one_node():
    x = minigrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert list(nodes(viz.to_dot(x, params={"x": x})).values()) == [["x", "(3,) float32"]]
    assert edges(viz.to_dot(x)) == []


def test_names_are_escaped_for_dot():
    a = minigrad.tensor(1.0, requires_grad=True)
    dot = viz.to_dot(a * 2, params={'say "hi" \\o/': a})
    assert 'label="say \\"hi\\" \\\\o/\\n() float32\\nvalue 1"' in dot


def test_bad_arguments_are_named():
    a = minigrad.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="to_dot: expected a Tensor, got ndarray"):
        viz.to_dot(np.ones(3))
    with pytest.raises(TypeError, match=r"params must be a dict.*named_parameters"):
        viz.to_dot(a * 2, params=[a])
    with pytest.raises(TypeError, match=r"params\['a'\] is a float"):
        viz.to_dot(a * 2, params={"a": 1.0})


def test_draw_refuses_unknown_formats_and_missing_folders(tmp_path):
    a = minigrad.tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"graph\.jpg.*\.svg, \.png or \.dot"):
        viz.draw(a * 2, tmp_path / "graph.jpg")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        viz.draw(a * 2, tmp_path / "nowhere" / "graph.svg")
    assert list(tmp_path.iterdir()) == []


def test_draw_writes_dot_text(tmp_path):
    out, leaves = neuron()
    path = viz.draw(out, tmp_path / "neuron.dot", params=leaves)
    assert path == tmp_path / "neuron.dot"
    assert path.read_text(encoding="utf-8") == viz.to_dot(out, params=leaves)


def test_without_graphviz_the_dot_text_is_written_and_the_install_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` anywhere
    out, leaves = neuron()
    with pytest.warns(UserWarning) as caught:
        path = viz.draw(out, tmp_path / "neuron.svg", params=leaves)
    message = str(caught[0].message)
    for command in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert command in message
    assert path == tmp_path / "neuron.dot" and str(path) in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neuron.dot"]
    assert path.read_text(encoding="utf-8") == viz.to_dot(out, params=leaves)


def test_a_training_step_renders_as_svg_and_png(tmp_path):
    need_dot()
    loss, params = fixed_step()
    svg = viz.draw(loss, tmp_path / "forward.svg", params=params)
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text and "0.weight" in text and "module 10" in text
    loss.backward(retain_graph=True)
    viz.draw(loss, tmp_path / "step.svg", params=params)
    text = (tmp_path / "step.svg").read_text(encoding="utf-8")
    assert "grad (16, 1, 3, 3), norm" in text and "10.bias" in text
    png = viz.draw(loss, tmp_path / "step.png", params=params).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forward.svg", "step.png", "step.svg"]


def test_a_variable_network_step_renders(tmp_path):
    need_dot()
    model = models.var_res_cnn()
    images = minigrad.tensor(np.random.default_rng(1).random((2, 1, 20, 24), dtype=np.float32))
    loss = F.cross_entropy(model(images), np.array([1, 2]))
    text = viz.draw(loss, tmp_path / "step.svg", params=dict(model.named_parameters()))
    assert text.read_text(encoding="utf-8").count("class=\"cluster\"") == 4


def test_dot_failures_are_reported(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dot").write_text("#!/bin/sh\necho 'syntax error in line 3' >&2\nexit 1\n")
    (fake / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    a = minigrad.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="dot failed.*syntax error in line 3"):
        viz.draw(a * 2, tmp_path / "graph.svg")
    assert not (tmp_path / "graph.svg").exists()


def run_example(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "examples" / "draw_graph.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_example_draws_into_a_new_folder(tmp_path):
    need_dot()
    (tmp_path / "graphs").mkdir()  # taken: the example picks graphs-2
    result = run_example(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "graphs-2").iterdir()) == [
        "neuron.svg", "training-step.svg"]
    svg = (tmp_path / "graphs-2" / "neuron.svg").read_text(encoding="utf-8")
    assert "grad &#45;1.5" in svg  # SVG writes the minus sign as &#45;


def test_example_never_overwrites(tmp_path):
    (tmp_path / "neuron.png").write_text("mine")
    result = run_example("--out", str(tmp_path), "--format", "png", cwd=tmp_path)
    assert result.returncode == 2 and "refusing to overwrite" in result.stderr
    assert (tmp_path / "neuron.png").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neuron.png"]

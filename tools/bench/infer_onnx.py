"""Inference latency of AE-16 in ONNX Runtime, without PyTorch: the ONNX Runtime half of
../shared/bench/anchors/infer_ae16.py, for hosts where PyTorch cannot be installed (it only exports the model there).

The same model (784-256-64-16-64-256-784, ReLU hidden layers, linear code, sigmoid output, Glorot-uniform weights,
zero biases: the figures do not depend on training), built directly as an ONNX graph of Gemm + activation nodes,
the same graph as torch.onnx.export writes for nn.Linear (Gemm with transB = 1), the same session options (intra-op threads = --threads, inter-op 1, CPU provider) and the same measurements:
encode one image at a time over the 10,000 test images, and encode + decode in batches of 1000, best of --reps
after one warm-up pass. Prints one JSON line.

    pip install onnx onnxruntime numpy
    $HOME/.venvs/anchors/bin/python tools/bench/infer_onnx.py --data /usr/share/datasets/fashion-mnist --threads 2
"""
import json
import os
import sys
import time

ANCHORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "bench", "anchors")
sys.path.insert(0, os.path.normpath(ANCHORS))
import ae16_common as C  # noqa: E402


def extra(p):
    p.add_argument("--reps", type=int, default=3)


args = C.parse_args("AE-16 inference latency in ONNX Runtime (no PyTorch)", extra)
import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
import onnxruntime as ort  # noqa: E402

_, xte = C.load_data(args.data)
xte = np.ascontiguousarray(xte, dtype=np.float32)
rng = np.random.default_rng(args.seed)
ACTS = ["Relu", "Relu", None, "Relu", "Relu", "Sigmoid"]
weights = []
for i in range(6):
    fan_in, fan_out = C.LAYERS[i], C.LAYERS[i + 1]
    lim = C.glorot_limit(fan_in, fan_out)
    weights.append((rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32), np.zeros(fan_out, np.float32)))


def graph(layers, name):
    nodes, inits, current = [], [], "x"
    for i in layers:
        w, b = weights[i]
        # as torch.onnx.export writes nn.Linear: the weight stored (out, in), Gemm with transB = 1
        w_t = np.ascontiguousarray(w.T)
        inits += [numpy_helper.from_array(w_t, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = f"z{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [out], transB=1))
        current = out
        if ACTS[i]:
            nodes.append(helper.make_node(ACTS[i], [current], [f"a{i}"]))
            current = f"a{i}"
    nodes.append(helper.make_node("Identity", [current], ["y"]))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", C.LAYERS[layers[0]]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", C.LAYERS[layers[-1] + 1]])],
                          inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


so = ort.SessionOptions()
so.intra_op_num_threads = args.threads
so.inter_op_num_threads = 1
encoder = ort.InferenceSession(graph([0, 1, 2], "ae16_encoder"), so, providers=["CPUExecutionProvider"])
full = ort.InferenceSession(graph([0, 1, 2, 3, 4, 5], "ae16"), so, providers=["CPUExecutionProvider"])


def best(fn):
    times = []
    for _ in range(args.reps + 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times[1:])


b1 = best(lambda: [encoder.run(None, {"x": xte[i:i + 1]}) for i in range(xte.shape[0])])
b1000 = best(lambda: [full.run(None, {"x": xte[i:i + 1000]}) for i in range(0, xte.shape[0], 1000)])
print(json.dumps({
    "onnxruntime": ort.__version__, "threads": args.threads, "images": int(xte.shape[0]),
    "ort_encode_b1_total_s": round(b1, 4), "ort_encode_b1_us": round(b1 / xte.shape[0] * 1e6, 2),
    "ort_reconstruct_b1000_s": round(b1000, 4),
}))

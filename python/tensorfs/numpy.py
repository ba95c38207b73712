"""tensorfs.numpy.load_file: the spelling of safetensors.numpy.load_file (see tensorfs.safe).

numpy lacks some safetensors dtypes; those arrive as raw bits: BF16 as uint16, F8_* as uint8,
F4 as uint8 holding two values a byte (last dimension halved). F6_* raise."""
from .safe import load_file as _load_file

__all__ = ["load_file"]


def load_file(filename, *, select=None):
    """{key: numpy.ndarray} in host memory."""
    return _load_file(filename, device="cpu", select=select, framework="np")

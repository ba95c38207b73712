"""tensorfs.torch.load_file: the spelling of safetensors.torch.load_file (see tensorfs.safe)."""
from .safe import load_file as _load_file

__all__ = ["load_file"]


def load_file(filename, device="cpu", *, select=None):
    """{key: torch.Tensor} of a safetensors file, sharded folder or diffusers folder."""
    return _load_file(filename, device=device, select=select, framework="pt")

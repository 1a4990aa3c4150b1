# Stubs of the Rust extension. User-facing documentation lives in the Python wrappers.
import torch

__version__: str
build_profile: str

def decode_image(data: bytes, *, max_pixels: int | None, name: str | None = None) -> torch.Tensor: ...
def decode_image_file(path: str, *, max_pixels: int | None) -> torch.Tensor: ...

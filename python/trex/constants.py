"""Named constants: the pinned torch version, ImageNet statistics and the paper's crop sizes."""

# tch 0.24 binds exactly this PyTorch release; the extension is built against it.
TORCH_VERSION = "2.11.0"
TORCHVISION_VERSION = "0.26.0"

# Pillow's Image.MAX_IMAGE_PIXELS: larger images are refused before any pixel is decoded.
MAX_IMAGE_PIXELS = 178_956_970

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

GLOBAL_CROP_SIZE = 224
LOCAL_CROP_SIZE = 96

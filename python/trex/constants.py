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

# Limits on hostile input (README, "Guarantees and limits"); the Rust core defines the same values
# and tests/test_hostile_loader.py checks that they agree.
MAX_FILE_BYTES = 1 << 30  # image files larger than this are refused before any byte is read
MAX_OUTPUT_PIXELS = MAX_IMAGE_PIXELS  # resized crops and loader crop sizes: at most this many pixels
MAX_PREFETCH = 64  # MultiCropLoader(prefetch=...) at most
MAX_CROPS = 256  # crops per image in a recipe at most

"""Layer mode (work in progress)."""
from .core import check_layer
from .declare import LayerDecl, layer
from .files import check_layer_file, is_layer_file, load_layer_file
from .search import verify_layer

__all__ = ["layer", "LayerDecl", "check_layer", "verify_layer", "check_layer_file", "is_layer_file", "load_layer_file"]

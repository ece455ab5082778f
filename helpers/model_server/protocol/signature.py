"""What a served model expects: its inputs and outputs with element type and shape.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

from dataclasses import dataclass, field

from helpers.model_server.protocol.dtypes import ElementType

DYNAMIC = -1


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: its name, element type and shape (-1 for a dynamic dim)."""

    name: str
    element: ElementType
    shape: tuple[int, ...]
    byte_size: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Precompute the byte size of a static shape (-1 when a dimension is dynamic)."""
        size = self.element_count * self.element.numpy.itemsize if self.is_static else -1
        object.__setattr__(self, "byte_size", size)

    @property
    def is_static(self) -> bool:
        """True when every dimension is fixed."""
        return DYNAMIC not in self.shape

    @property
    def element_count(self) -> int:
        """Number of elements of a static shape."""
        count = 1
        for dim in self.shape:
            count *= dim
        return count


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    """Format a shape the way OVMS prints it: `(1,1)`."""
    return "(" + ",".join(str(d) for d in shape) + ")"

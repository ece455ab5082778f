"""What a served model expects: its inputs and outputs with element type and shape."""

from dataclasses import dataclass

from helpers.model_server.dtypes import ElementType

DYNAMIC = -1


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: its name, element type and shape (-1 for a dynamic dim)."""

    name: str
    element: ElementType
    shape: tuple[int, ...]

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

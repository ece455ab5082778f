"""TensorFlow DataType numbers, written out so that the tests never read them from the server."""

DT_FLOAT = 1
DT_INT32 = 3
DT_UINT8 = 4
DT_HALF = 19
DT_UINT32 = 22
DT_UINT64 = 23

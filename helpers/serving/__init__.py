"""The client side of serving: start a model server and talk to it (notebooks 09 to 12).

gRPC reads GRPC_VERBOSITY once, when it is first imported. Its INFO lines (such as "Other threads
are currently calling into gRPC, skipping fork() handlers" when the launcher forks while a channel
is busy) would land in notebook cells, so this package keeps them out unless the caller set a level.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

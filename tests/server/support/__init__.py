"""What the server tests share: test models, request builders, raw HTTP, servers, waiting."""

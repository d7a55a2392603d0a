"""One adapter per provider: upstream requests, SSE parsing, start detection, assembly."""

"""The built-in tracker: HTTP, UDP and WebSocket front ends over one swarm."""

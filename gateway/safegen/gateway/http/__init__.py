"""The gateway's HTTP/JSON front and web page: `await start_http_server(host, port, plane)` (a DataPlane or a gRPC target)."""

from safegen.gateway.http.server import DEFAULT_MAX_BODY_BYTES, HttpServerHandle, create_app, start_http_server

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpServerHandle", "create_app", "start_http_server"]

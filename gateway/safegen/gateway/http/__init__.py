"""The gateway's HTTP/JSON front and web page: `await start_http_server(host, port, grpc_target)`."""

from safegen.gateway.http.server import DEFAULT_MAX_BODY_BYTES, HttpServerHandle, create_app, start_http_server

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HttpServerHandle", "create_app", "start_http_server"]

"""Generated gRPC and protobuf code for safegen.v1 (do not edit; run scripts/gen-protos)."""

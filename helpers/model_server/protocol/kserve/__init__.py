"""KServe v2 gRPC messages: grpc_predict_v2.proto, compiled by tools/generate_kserve_protos.py."""

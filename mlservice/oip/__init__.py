"""The Open Inference Protocol (KServe "V2"): what its REST and gRPC doors share, over the core facade."""

"""The corebert classification service: FastAPI over ONNX Runtime (docs/service.md)."""

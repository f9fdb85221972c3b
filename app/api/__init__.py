"""The REST gateway: FastAPI routers, schemas, typed errors, auth and Prometheus metrics."""

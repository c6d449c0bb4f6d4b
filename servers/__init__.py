"""LMaaS server (FastAPI over the evaluator) and its client. Not built yet: see the project's open issues."""

__all__: list[str] = []

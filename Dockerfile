# One image for every process of the stack; the command picks the process.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY auth auth
COPY consumers consumers
COPY events events
COPY gateway gateway
COPY common common
COPY bench bench
COPY cli.py asyncapi.yaml ./
RUN pip install --no-cache-dir .
ENV LAB_STATE_DIR=/state PYTHONUNBUFFERED=1
CMD ["python", "-m", "common.serve", "gateway"]

# One image for every process of the stack; the command picks the process.
FROM python:3.11-slim

# The dependency layer is built from pyproject.toml alone, so a change to the code reuses it.
WORKDIR /app
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))\
['project']['dependencies']))" > /tmp/requirements.txt && \
    pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt
# Every package pyproject.toml installs (tests/e2e/test_compose.py checks the list against it).
COPY README.md cli.py asyncapi.yaml ./
COPY auth auth
COPY consumers consumers
COPY events events
COPY gateway gateway
COPY common common
COPY lab lab
COPY dashboard dashboard
COPY demo demo
COPY bench bench
# The user the containers run as: compose passes the owner of the secret files it mounts.
ARG LAB_UID=10001
RUN pip install --no-cache-dir --no-deps . && \
    useradd --system --uid "${LAB_UID}" --home-dir /state --create-home lab && \
    chown lab /state

# No secret is baked in: signing keys, the internal token and databases live in /state, a
# volume, or come from the environment at run time.
USER lab
ENV LAB_STATE_DIR=/state LAB_BIND_HOST=0.0.0.0 PYTHONUNBUFFERED=1
CMD ["python", "-m", "lab.serve", "gateway"]

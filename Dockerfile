# Earworm: the Discord bot (`earworm run`). Build: docker build -t earworm .
# Run:   docker run -e DISCORD_TOKEN=... -v earworm-data:/app/data earworm
#
# Two stages. "build" installs the locked dependencies into /opt/venv in their own layer, before
# any source is copied (a code change reuses that layer), then builds and installs Earworm itself
# as a normal, non-editable package: the models and demo clips travel inside it as package data.
# The runtime stage is python-slim with ffmpeg and that venv, running as an unprivileged user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY . .
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip check

FROM python:3.11-slim
# ffmpeg from the base image's Debian release (its security updates replace exact versions).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 earworm \
    && mkdir -p /app/data && chown earworm /app/data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    EARWORM_DATABASE_PATH=/app/data/earworm.db \
    PYTHONUNBUFFERED=1
WORKDIR /app
# The "earworm" user, by number so the runtime can tell it is not root.
USER 10001
VOLUME ["/app/data"]

# Healthy while the bot is connected to Discord (it refreshes a heartbeat file next to the DB).
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 CMD ["earworm", "run", "--health"]
CMD ["earworm", "run"]

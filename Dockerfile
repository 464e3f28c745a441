# Earworm: the Discord bot (`earworm run`). Build: docker build -t earworm .
# Run:   docker run -e DISCORD_TOKEN=... -v earworm-data:/app/data earworm
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY inference ./inference
COPY storage ./storage
COPY models ./models
COPY tests/fixtures ./tests/fixtures
# Editable install: the committed ONNX models and bundled clips are read from /app.
RUN pip install --no-cache-dir -e . \
    && useradd --create-home --uid 10001 earworm \
    && mkdir -p /app/data && chown earworm /app/data

USER earworm
ENV EARWORM_DATABASE_PATH=/app/data/earworm.db \
    PYTHONUNBUFFERED=1
VOLUME ["/app/data"]

# Healthy while the bot is connected to Discord (it refreshes a heartbeat file next to the DB).
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 CMD ["earworm", "run", "--health"]
CMD ["earworm", "run"]

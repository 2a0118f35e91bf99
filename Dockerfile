FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams streams
COPY agents agents
COPY models models
COPY schemas schemas
COPY core core
COPY sim sim
COPY sources sources
RUN pip install --no-cache-dir . && mkdir -p /data
EXPOSE 6066
CMD ["loyalty", "worker", "-l", "info"]

# vmsim server and client in one image: the compose file runs it as the server, the web
# dashboard, workload clients, Locust master and workers, and the demo.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY client ./client
COPY common ./common
COPY protos ./protos
COPY bench ./bench
# gcc only while pip builds the C replay loops (vmsim_teach/_replay_loops.c; without a
# compiler the install still succeeds, on the slower CPython loops).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir ".[load]" \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 vmsim && useradd --uid 10001 --gid vmsim --no-create-home vmsim
USER vmsim
EXPOSE 50051 9100 8080 8089
ENV VMSIM_ADDR=0.0.0.0:50051
CMD ["vmsim-server"]

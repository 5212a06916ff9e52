# vmsim server and client in one image: the compose file runs it as the server, a demo
# client and (optionally) Locust load generators.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY client ./client
COPY protos ./protos
COPY bench ./bench
RUN pip install --no-cache-dir ".[load]"
EXPOSE 50051 9100
ENV VMSIM_ADDRESS=0.0.0.0:50051
CMD ["vmsim-server"]

# syntax=docker/dockerfile:1
# The Node.js example scanner (examples/node-scanner): plain Node, no
# dependencies, so no npm install.
#   docker build -f deploy/docker/node-scanner.Dockerfile -t <registry>/intellidox/node-scanner:<tag> .
FROM node:22-bookworm-slim
WORKDIR /app
COPY examples/node-scanner/scanner.js /app/scanner.js
COPY examples/node-scanner/package.json /app/package.json
ENV APP_PORT=8090
USER 65532:65532
EXPOSE 8090
ENTRYPOINT ["node", "/app/scanner.js"]

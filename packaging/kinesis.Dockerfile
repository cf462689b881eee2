# A local Kinesis emulator for the compose file: kinesalite, pinned by
# tools/kinesis/package-lock.json, run through tools/kinesis/serve.js, which
# listens on 127.0.0.1 only (the compose file shares Strand's network
# namespace with it). Build from the repository's root.
FROM node:20-bookworm-slim
WORKDIR /kinesis
COPY tools/kinesis/package.json tools/kinesis/package-lock.json tools/kinesis/serve.js ./
RUN npm ci --no-audit --no-fund --loglevel=error
USER node
ENV INITIALIZE_STREAMS=journal:1
CMD ["node", "serve.js", "4567"]

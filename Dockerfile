# The lnplaylive worker. Multi-stage: build with the Go toolchain, run from a
# small image with CA certificates (the worker calls Hetzner's API over TLS).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ ./cmd/lnplaylive-worker ./cmd/lnplaylive

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/lnplaylive-worker /out/lnplaylive /usr/local/bin/
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/lnplaylive-worker"]

# syntax=docker/dockerfile:1
# Build a static binary (pure-Go SQLite, no cgo), then ship it alone on a
# distroless base that has CA certificates and a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/switchyard ./cmd/switchyard \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchyard /usr/local/bin/switchyard
COPY --from=build --chown=nonroot:nonroot /out/data /data
WORKDIR /data
ENV SWITCHYARD_SERVER_LISTEN=0.0.0.0:8080 \
    SWITCHYARD_SERVER_DATA_DIR=/data
EXPOSE 8080
VOLUME ["/data"]
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/switchyard"]
CMD ["serve"]

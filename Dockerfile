# wardwatch's three images, for users who build with a container engine and push to their own
# registry (the test bed builds the same images without one: scripts/images.sh). One build
# stage compiles the three binaries; each image is a target:
#
#   docker build --target operator  -t ghcr.io/wardwatch/wardwatch-operator:0.1.0 .
#   docker build --target exporter  -t ghcr.io/wardwatch/wardwatch-exporter:0.1.0 .
#   docker build --target simulator -t ghcr.io/wardwatch/wardwatch-simulator:0.1.0 .
#
# Each image holds what scripts/rootfs.sh assembles (the binary, the shared libraries it links,
# CA certificates, a non-root user) and runs as 65532. The exporter's binary carries the file
# capabilities cap_net_raw,cap_net_admin=ep, which COPY keeps with BuildKit (Docker's builder
# since 23.0; podman and buildah keep them too). tests/tests/dockerfile.rs fails when these
# images and scripts/images.sh's disagree.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev libcap2-bin binutils ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wardwatch-operator -p wardwatch-exporter -p wardwatch-simulator
RUN bash scripts/rootfs.sh target/release/wardwatch-operator /rootfs/operator /usr/local/bin \
 && bash scripts/rootfs.sh target/release/wardwatch-exporter /rootfs/exporter /usr/local/bin cap_net_raw,cap_net_admin=ep \
 && bash scripts/rootfs.sh target/release/wardwatch-simulator /rootfs/simulator /usr/local/bin

FROM scratch AS operator
COPY --from=build /rootfs/operator/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/wardwatch-operator"]

FROM scratch AS exporter
COPY --from=build /rootfs/exporter/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/wardwatch-exporter"]

FROM scratch AS simulator
COPY --from=build /rootfs/simulator/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/wardwatch-simulator"]

# mcpgw in a container: built on Debian 12, packaged as the .deb `make deb` makes, and installed
# into a slim runtime with only the libraries the package depends on, run as a non-root user.
#   docker build -t mcpgw .
#   docker run -p 8080:8080 -v $PWD/mcpgw.json:/etc/mcpgw/mcpgw.json:ro mcpgw
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config dpkg-dev file \
      libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev libsqlite3-dev \
      libre2-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev libjemalloc-dev
WORKDIR /src
COPY CMakeLists.txt README.md ./
COPY cmake cmake
COPY packaging packaging
COPY src src
COPY tools tools
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMCPGW_BUILD_TESTS=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr \
 && cmake --build build \
 && cd build && cpack -G DEB

FROM debian:12-slim
COPY --from=build /src/build/mcpgw_*.deb /tmp/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
      /tmp/mcpgw_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/mcpgw_*.deb \
 && mkdir -p /var/lib/mcpgw && chown 65532:65532 /var/lib/mcpgw
USER 65532:65532
WORKDIR /var/lib/mcpgw
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/mcpgw", "serve", "--config", "/etc/mcpgw/mcpgw.json", "--listen", "0.0.0.0:8080"]

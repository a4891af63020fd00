# tsic with its pinned stack, for training on a GPU machine (NVIDIA driver + container toolkit on the host).
#   docker build -t tsic .
#   docker run --rm --gpus all tsic                 # prints `tsic --help`
#   docker compose up train                         # trains configs/config.yaml (see docker-compose.yml)
# The base is plain Python 3.11: the pinned torch 2.14.1 wheel carries its own CUDA libraries, so a CUDA base
# image would only add a second copy. The install is `make install`, the same command and pins as everywhere.
FROM python:3.11-slim-bookworm

# make runs the install recipe; git: nbdev reads the repository
RUN apt-get update && apt-get install -y --no-install-recommends make git \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 tsic
USER tsic
WORKDIR /home/tsic/tsic

# The dependencies first (the slow layer, cached while only the code changes), then the rest of the project
COPY --chown=tsic:tsic settings.ini setup.py Makefile README.md ./
COPY --chown=tsic:tsic tsic ./tsic
RUN make install && rm -rf /home/tsic/.cache/pip
COPY --chown=tsic:tsic . .
ENV PATH=/home/tsic/tsic/.venv/bin:$PATH

# What tsic writes: built chart datasets, run reports, checkpoints, TensorBoard logs
RUN mkdir -p data runs checkpoints logs
VOLUME ["/home/tsic/tsic/data", "/home/tsic/tsic/runs", "/home/tsic/tsic/checkpoints", "/home/tsic/tsic/logs"]
HEALTHCHECK --interval=5m --timeout=60s CMD tsic --help > /dev/null || exit 1
CMD ["tsic", "--help"]

# tsic with its pinned stack, for training on a GPU machine (NVIDIA driver + container toolkit on the host).
#   docker build -t tsic .
#   docker run --rm --gpus all tsic                 # prints `tsic --help`
#   docker compose up train                         # trains configs/config.yaml (see docker-compose.yml)
# The base is plain Python 3.11: the pinned torch 2.14.1 wheel carries its own CUDA libraries, so a CUDA base
# image would only add a second copy. The install is `make install`, the same command and pins as everywhere.
FROM python:3.11-slim-bookworm

# make runs the install recipe
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 tsic && mkdir -p /home/tsic/tsic && chown tsic:tsic /home/tsic/tsic
USER tsic
WORKDIR /home/tsic/tsic

# The dependencies first, from the files that pin them (with a placeholder package and README), so this slow layer
# stays cached while only the code changes; the editable install then points at the real package copied below.
COPY --chown=tsic:tsic settings.ini setup.py Makefile ./
RUN mkdir tsic && touch tsic/__init__.py README.md && make install && rm -rf /home/tsic/.cache/pip
COPY --chown=tsic:tsic . .
ENV PATH=/home/tsic/tsic/.venv/bin:$PATH

# What tsic writes: built chart datasets, and run folders (each with its checkpoints, TensorBoard logs, reports)
RUN mkdir -p data runs
VOLUME ["/home/tsic/tsic/data", "/home/tsic/tsic/runs"]
CMD ["tsic", "--help"]

# The image SageMaker runs as `docker run IMAGE train` and `docker run IMAGE serve`.
#   docker build --network host --build-arg DEVICE=cpu|gpu -t image-classifier:cpu .
# Wheels in wheelhouse/<DEVICE>/ (local_test/build_image.sh downloads them) make the build
# work without a package index; when there are none, pip uses the index.
ARG DEVICE=cpu

FROM debian:bookworm-slim AS deps
ARG DEVICE
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev python3-dev python3-venv \
 && rm -rf /var/lib/apt/lists/*
# The requirement lists, and the downloaded wheels if any.
COPY requirements.txt requirements-gpu.txt container/requirements.sh container/requirements-build.txt \
     container/left-out.txt container/trimmed-wheel.sh wheelhouse/${DEVICE}* /wheelhouse/
# Without what nothing here imports (container/left-out.txt): gluoncv from its wheel repacked without those
# requirements, so that pip check holds.
RUN if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
      printf '[global]\nno-index = true\nfind-links = /wheelhouse\n' > /etc/pip.conf; \
    fi \
 && /wheelhouse/requirements.sh "$DEVICE" /wheelhouse > /tmp/requirements.txt \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -r /wheelhouse/requirements-build.txt \
 && /wheelhouse/trimmed-wheel.sh "$(grep '^gluoncv==' /tmp/requirements.txt)" /tmp/trimmed \
 && sed -i "s|^gluoncv==.*|$(ls /tmp/trimmed/gluoncv-*.whl)|" /tmp/requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt \
 && /opt/venv/bin/pip check

FROM deps AS package
COPY pyproject.toml /package/
COPY src /package/src
RUN /opt/venv/bin/pip wheel --no-deps -w /dist /package

FROM debian:bookworm-slim
ARG DEVICE
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
# libgomp1 and libquadmath0 for MXNet. No libgl1: our code never imports opencv-python's cv2 (gluoncv's
# requirement), only MXNet's own OpenCV and Pillow; MXNet imports cv2 only if it loads.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 libquadmath0 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
COPY --from=deps /opt/venv /opt/venv
# GPU: the CUDA libraries of NVIDIA's wheels on the loader path (the host's driver brings libcuda.so.1).
RUN if [ "$DEVICE" = gpu ]; then \
      ls -d /opt/venv/lib/python3.11/site-packages/nvidia/*/lib > /etc/ld.so.conf.d/nvidia-wheels.conf && ldconfig; \
    fi
COPY --from=package /dist /dist
# Ours last: sagemaker_training also installs a `train` script, which ours must replace.
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps /dist/*.whl \
 && rm -rf /dist \
 && grep -q 'image_classifier.cli' /opt/venv/bin/train \
 && grep -q 'image_classifier.cli' /opt/venv/bin/serve
# HOME=/tmp: caches that libraries keep under ~ (MXNet's, matplotlib's) stay writable for any --user,
# and nothing is written outside /opt/ml and /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=TRUE \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
